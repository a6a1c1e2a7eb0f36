//! Cluster membership and leader election for the single-active scheduler.
//! Empty until M1.7 builds it on openraft; it will stay generic (it elects and fences, it knows no certificate).
