//! SKELETON (M2.3, in progress): scoped records on MongoDB.
use crate::store::mongodb::schema::CollectionIndexes;

pub(super) fn indexes() -> Vec<CollectionIndexes> {
    Vec::new()
}
