//! SKELETON (M2.3, in progress): to be written.
use crate::store::mongodb::schema::CollectionIndexes;

pub(super) fn indexes() -> Vec<CollectionIndexes> {
    Vec::new()
}
