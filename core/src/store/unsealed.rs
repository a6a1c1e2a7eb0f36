//! Reading records only to show them: a page read without its sealed fields.
//! Invariant: a record read this way is never written back, and only a kind whose views never say
//! whether a sealed field is set (`ShownUnsealed`) is read this way. Its sealed fields were not read
//! (they are `None`): a write would take that for their removal, and a view for their absence.

use std::ops::Deref;

/// Whether a read brings a record's sealed fields (its envelope-encrypted secrets) with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedFields {
    /// Read them: the record may be written back.
    Read,
    /// Leave them: the record is only shown, and ciphertext it would not use is not read at all.
    Leave,
}

/// A kind of record whose views are built without its sealed fields, not even asking whether one
/// is set (a certificate's view never mentions its private key; an ACME account's says whether it
/// has an EAB key, so it is not one).
pub trait ShownUnsealed: crate::store::Record {}

impl ShownUnsealed for crate::model::Certificate {}

/// A record read with `SealedFields::Leave`: it offers no `&mut`, and gives the record up only to
/// be turned into something shown.
#[derive(Debug, Clone)]
pub struct Unsealed<R>(R);

impl<R> Unsealed<R> {
    pub(crate) fn new(record: R) -> Self {
        Self(record)
    }

    /// The record itself, to build a view from; never to write back.
    pub fn into_shown(self) -> R {
        self.0
    }
}

impl<R> Deref for Unsealed<R> {
    type Target = R;

    fn deref(&self) -> &R {
        &self.0
    }
}
