//! Multi-process cluster tests (kill, pause, partition real nodes); the scenarios arrive with M1.7.
