//! SKELETON (M2.3, in progress): organizations on MongoDB.
use crate::store::mongodb::schema::CollectionIndexes;

pub(super) fn indexes() -> Vec<CollectionIndexes> {
    Vec::new()
}
