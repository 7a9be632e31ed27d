//! What the cluster runs: [`SERVICES`], the one table of services, replicas and ports, and
//! the processes ([`Part`]s) it unfolds into. Adding a service to the cluster is a row here
//! plus its upstream and routes in `deploy/nginx.conf` (`nginx.rs`'s test checks that every
//! routed port has an upstream there).

/// A service of the cluster.
#[derive(Debug)]
pub struct Service {
    /// The `ticketing` subcommand that runs it; its database is `ticketing_<name>`.
    pub name: &'static str,
    /// One port per replica: `deploy/nginx.conf`'s upstream ports for it.
    pub ports: &'static [u16],
    /// It owns a PostgreSQL database.
    pub database: bool,
    /// nginx routes to it (expiration only serves `/healthz` and `/readyz`).
    pub routed: bool,
}

/// Every service, in start order.
#[rustfmt::skip]
pub const SERVICES: &[Service] = &[
    Service { name: "auth",       ports: &[4001],       database: true,  routed: true  },
    Service { name: "tickets",    ports: &[4002],       database: true,  routed: true  },
    Service { name: "orders",     ports: &[4003, 4013], database: true,  routed: true  },
    Service { name: "expiration", ports: &[4004],       database: true,  routed: false },
    Service { name: "payments",   ports: &[4005, 4015], database: true,  routed: true  },
    Service { name: "web",        ports: &[4006],       database: false, routed: true  },
];

/// Where `deploy/nginx.conf` listens.
pub const GATEWAY_PORT: u16 = 8080;

/// One process of the cluster: a replica of a service.
#[derive(Debug, Clone)]
pub struct Part {
    /// The service's name, numbered when it has several replicas (`orders-1`, `orders-2`).
    pub name: String,
    pub service: &'static Service,
    /// Its port in `deploy/nginx.conf` (the cluster may move it, see [`crate::Ports`]).
    pub port: u16,
}

/// Every process, in start order (a service's replicas one after another).
pub fn parts() -> Vec<Part> {
    SERVICES
        .iter()
        .flat_map(|service| {
            service
                .ports
                .iter()
                .enumerate()
                .map(move |(i, &port)| Part {
                    name: match service.ports.len() {
                        1 => service.name.to_owned(),
                        _ => format!("{}-{}", service.name, i + 1),
                    },
                    service,
                    port,
                })
        })
        .collect()
}

/// The services that own a database.
pub fn with_database() -> impl Iterator<Item = &'static Service> {
    SERVICES.iter().filter(|s| s.database)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_are_numbered_and_single_processes_are_not() {
        let names: Vec<String> = parts().into_iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "auth",
                "tickets",
                "orders-1",
                "orders-2",
                "expiration",
                "payments-1",
                "payments-2",
                "web"
            ]
        );
    }

    #[test]
    fn no_two_processes_share_a_port() {
        let mut ports: Vec<u16> = parts().iter().map(|p| p.port).collect();
        ports.push(GATEWAY_PORT);
        let count = ports.len();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), count);
    }
}
