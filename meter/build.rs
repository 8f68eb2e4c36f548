//! Rebuilds the crate when a PostgreSQL migration is added: `sqlx::migrate!` embeds the folder
//! at compile time, and cargo does not watch a folder on its own (sqlx's documented build
//! script).

fn main() {
    println!("cargo:rerun-if-changed=../migrations/postgres");
}
