//! What the cluster runs: [`SERVICES`], the one table of services, replicas and ports, and
//! the processes ([`Part`]s) it unfolds into. Adding a service to the cluster is a row here
//! plus its upstream and routes in `deploy/nginx.conf` (`nginx.rs`'s test checks that every
//! routed port has an upstream there); the tests below check that every other file of
//! `deploy/` names every service of the table.

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

    fn deploy_file(path: &str) -> String {
        let full = format!("{}/../deploy/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading deploy/{path}: {e}"))
    }

    /// The routes of a gateway config, one `location … proxy_pass …` line each, spaces
    /// squeezed.
    fn routes(config: &str) -> Vec<String> {
        config
            .lines()
            .filter(|line| line.contains("location") && line.contains("proxy_pass"))
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    /// What adding a service to `deploy/` takes (ARCHITECTURE.md, "Adding a service"),
    /// checked: each place names every service of [`SERVICES`] that owns a database, those
    /// with an API are upstreams of every gateway, and the gateways route alike.
    #[test]
    fn every_service_is_in_every_deploy_file() {
        let (compose, k8s_init, init) = (
            deploy_file("docker-compose.yml"),
            deploy_file("k8s/postgres.yaml"),
            deploy_file("postgres-init.sql"),
        );
        let secrets = deploy_file("k8s/secret.example.yaml");
        let gateways = [
            ("nginx.conf", deploy_file("nginx.conf")),
            ("nginx.compose.conf", deploy_file("nginx.compose.conf")),
            ("k8s/gateway.yaml", deploy_file("k8s/gateway.yaml")),
        ];
        let ingress = deploy_file("k8s/ingress.yaml");
        for service in with_database() {
            let name = service.name;
            let create = format!("CREATE DATABASE {name};");
            assert!(init.contains(&create), "postgres-init.sql: {create}");
            assert!(k8s_init.contains(&create), "k8s/postgres.yaml: {create}");
            let url = format!("{}_DATABASE_URL:", name.to_uppercase());
            assert!(secrets.contains(&url), "k8s/secret.example.yaml: {url}");
            let command = format!("command: [\"{name}\"]");
            assert!(compose.contains(&command), "docker-compose.yml: {command}");
            let manifest = deploy_file(&format!("k8s/{name}.yaml"));
            let args = format!("args: [\"{name}\"]");
            assert!(manifest.contains(&args), "k8s/{name}.yaml: {args}");
            if !service.routed {
                continue;
            }
            for (path, config) in &gateways {
                let upstream = format!("upstream {name} {{");
                assert!(config.contains(&upstream), "{path}: {upstream}");
            }
            let backend = format!("name: {name}");
            assert!(ingress.contains(&backend), "k8s/ingress.yaml: {backend}");
        }
        let first = routes(&gateways[0].1);
        assert!(!first.is_empty(), "nginx.conf has routes");
        for (path, config) in &gateways[1..] {
            assert_eq!(routes(config), first, "{path} routes as nginx.conf does");
        }
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
