-- Run once by the postgres image on an empty data directory (/docker-entrypoint-initdb.d),
-- as POSTGRES_USER. One database per service; each service creates its own schema and
-- tables in it on start-up (migrations), so nothing else is needed here.
-- The same statements are in deploy/k8s/postgres.yaml (ConfigMap postgres-init).
CREATE DATABASE auth;
CREATE DATABASE tickets;
CREATE DATABASE orders;
CREATE DATABASE expiration;
CREATE DATABASE payments;
