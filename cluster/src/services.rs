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
    Service { name: "web",        ports: &[4006, 4016], database: false, routed: true  },
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
                "web-1",
                "web-2"
            ]
        );
    }

    fn deploy_file(path: &str) -> String {
        let full = format!("{}/../deploy/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading deploy/{path}: {e}"))
    }

    /// The routes of a gateway config: each `location` block whole (its match and every
    /// directive in it, so a timeout counts too), comments dropped and spaces squeezed.
    fn routes(config: &str) -> Vec<String> {
        let words: Vec<&str> = config
            .lines()
            .map(|line| line.split('#').next().unwrap_or_default())
            .flat_map(str::split_whitespace)
            .collect();
        let mut routes = Vec::new();
        let mut at = 0;
        while let Some(start) = words[at..].iter().position(|w| *w == "location") {
            let start = at + start;
            // Location blocks hold no nested blocks in these configs.
            let end = start
                + words[start..]
                    .iter()
                    .position(|w| w.ends_with('}'))
                    .expect("a location block ends");
            routes.push(words[start..=end].join(" "));
            at = end + 1;
        }
        routes
    }

    /// The `location` block of `config` whose match is `matcher` (`= /live`).
    fn route<'a>(routes: &'a [String], matcher: &str) -> Option<&'a String> {
        let head = format!("location {matcher} {{");
        routes.iter().find(|r| r.starts_with(&head))
    }

    /// What adding a service to `deploy/` takes (ARCHITECTURE.md, "Adding a service"),
    /// checked: each place names every service of [`SERVICES`] (those that own a database
    /// get one everywhere), compose and Kubernetes run as many replicas as the cluster,
    /// those with an API are upstreams of every gateway, and the gateways route alike.
    #[test]
    fn every_service_is_in_every_deploy_file() {
        let (compose, k8s_init, init) = (
            deploy_file("docker-compose.yml"),
            deploy_file("k8s/postgres.yaml"),
            deploy_file("postgres-init.sql"),
        );
        let secrets = deploy_file("k8s/secret.example.yaml");
        let gateways = gateways();
        let ingress = deploy_file("k8s/ingress.yaml");
        for service in SERVICES {
            let name = service.name;
            let replicas = service.ports.len();
            let command = format!("command: [\"{name}\"]");
            assert_eq!(
                compose.matches(&command).count(),
                replicas,
                "docker-compose.yml: one `{command}` per replica"
            );
            let manifest = deploy_file(&format!("k8s/{name}.yaml"));
            let args = format!("args: [\"{name}\"]");
            assert!(manifest.contains(&args), "k8s/{name}.yaml: {args}");
            let count = format!("replicas: {replicas}\n");
            assert!(manifest.contains(&count), "k8s/{name}.yaml: {count}");
            if service.database {
                let create = format!("CREATE DATABASE {name};");
                assert!(init.contains(&create), "postgres-init.sql: {create}");
                assert!(k8s_init.contains(&create), "k8s/postgres.yaml: {create}");
                let url = format!("{}_DATABASE_URL:", name.to_uppercase());
                assert!(secrets.contains(&url), "k8s/secret.example.yaml: {url}");
            }
            if !service.routed {
                continue;
            }
            for (path, config) in &gateways {
                let upstream = format!("upstream {name} {{");
                assert!(config.contains(&upstream), "{path}: {upstream}");
            }
            let servers = upstream_servers(&gateways[1].1, name);
            assert_eq!(
                servers, replicas,
                "nginx.compose.conf: a server per replica of {name}"
            );
            let backend = format!("name: {name}");
            assert!(ingress.contains(&backend), "k8s/ingress.yaml: {backend}");
        }
        let first = routes(&gateways[0].1);
        assert!(!first.is_empty(), "nginx.conf has routes");
        for (path, config) in &gateways[1..] {
            assert_eq!(routes(config), first, "{path} routes as nginx.conf does");
        }
    }

    /// The three gateway configs: this machine's, compose's and the Kubernetes gateway's.
    fn gateways() -> [(&'static str, String); 3] {
        [
            ("nginx.conf", deploy_file("nginx.conf")),
            ("nginx.compose.conf", deploy_file("nginx.compose.conf")),
            ("k8s/gateway.yaml", deploy_file("k8s/gateway.yaml")),
        ]
    }

    /// How many `server` lines the upstream `name` of `config` has.
    fn upstream_servers(config: &str, name: &str) -> usize {
        let head = format!("upstream {name} {{");
        let start = config.find(&head).expect("the upstream") + head.len();
        let body = &config[start..];
        let body = &body[..body.find('}').expect("the upstream ends")];
        body.lines()
            .filter(|line| line.trim_start().starts_with("server "))
            .count()
    }

    /// The live channel's WebSocket gets through every gateway: the upgrade headers reach
    /// the web tier, and a quiet socket outlives the default 60 s timeouts (the server pings
    /// an idle one, so an hour is plenty), unbuffered. The Ingress gives its exact path
    /// the same timeouts.
    #[test]
    fn every_gateway_passes_the_live_socket() {
        let path = common::live::PATH;
        for (file, config) in gateways() {
            for needed in [
                "map $http_upgrade $connection_upgrade {",
                "proxy_http_version 1.1;",
                "proxy_set_header Upgrade           $http_upgrade;",
                "proxy_set_header Connection        $connection_upgrade;",
            ] {
                assert!(config.contains(needed), "{file}: {needed}");
            }
            let routes = routes(&config);
            let live = route(&routes, &format!("= {path}"))
                .unwrap_or_else(|| panic!("{file}: location = {path}"));
            for needed in [
                "proxy_pass http://web;",
                "proxy_read_timeout 1h;",
                "proxy_send_timeout 1h;",
                "proxy_buffering off;",
            ] {
                assert!(live.contains(needed), "{file}: {live} has {needed}");
            }
            // A location's own proxy_set_header would drop the inherited Upgrade/Connection.
            assert!(!live.contains("proxy_set_header"), "{file}: {live}");
        }
        let ingress = deploy_file("k8s/ingress.yaml");
        let live = &ingress[ingress
            .find("name: ticketing-live")
            .expect("the live Ingress")..];
        let exact = format!("- path: {path}\n            pathType: Exact");
        for needed in [
            "proxy-read-timeout: \"3600\"",
            "proxy-send-timeout: \"3600\"",
            exact.as_str(),
            "name: web",
        ] {
            assert!(
                live.contains(needed),
                "k8s/ingress.yaml, ticketing-live: {needed}"
            );
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
