//! Clients for the outside world: ACME CAs, DNS providers, distribution targets.
//! Empty until M1.5 (ACME, RFC 2136) and M1.6 (targets); connectors know nothing of actors.
