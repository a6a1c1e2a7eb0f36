//! SKELETON (M2.3, in progress): StoreHealth on MongoDB. To be written.
