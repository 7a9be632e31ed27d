//! The auth service's HTTP API end to end over real sockets, in one test binary: a module
//! per route (`signup`, `signin`, `signout`, `current_user`, `refresh`, `ban`, as in `src/routes/`)
//! and `http` for what every route shares (body limits, the error envelope, content types).
//! `helpers` starts a real server on port 0 with a database of its own per test.
//!
//! The same cases run on both backend sets: SQLite and in-process stores by default;
//! PostgreSQL and Redis with `DATABASE_URL=postgres://…` and `REDIS_URL=redis://…`.

mod ban;
mod current_user;
mod helpers;
mod http;
mod refresh;
mod signin;
mod signout;
mod signup;
