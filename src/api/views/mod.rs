//! What goes over the wire: request bodies (unknown fields refused) and response views, one file per
//! resource like `handlers/` (plus `edits`, the version-checked `PATCH` bodies). Views are built from
//! model records and leave out every secret: a secret field shows only as `has_…: true`.

/// A page of `$item`s with the cursor of the next, as every list route answers.
macro_rules! page_type {
    ($name:ident, $item:ty) => {
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass as `cursor` for the next page; absent on the last page.
            pub next_cursor: Option<String>,
        }

        impl From<certautopilot_core::Page<$item>> for $name {
            fn from(page: certautopilot_core::Page<$item>) -> Self {
                $name { items: page.items, next_cursor: page.next_cursor }
            }
        }
    };
}

mod acme_accounts;
mod admin;
mod approvals;
mod audit;
mod certificates;
mod cluster;
mod dns;
mod edits;
mod imports;
mod jobs;
mod live;
mod members;
mod notifications;
mod organization;
mod projects;
mod session;
mod setup;
mod targets;
mod tokens;
mod users;

pub use acme_accounts::*;
pub use admin::*;
pub use approvals::*;
pub use audit::*;
pub use certificates::*;
pub use cluster::*;
pub use dns::*;
pub use edits::{UpdateAcmeAccount, UpdateCertificate};
pub use imports::*;
pub use jobs::*;
pub use live::*;
pub use members::*;
pub use notifications::*;
pub use organization::*;
pub use projects::*;
pub use session::*;
pub use setup::*;
pub use targets::*;
pub use tokens::*;
pub use users::*;
