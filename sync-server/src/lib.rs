//! The tablesync server: axum routes for the table protocol over SQLite or PostgreSQL.
