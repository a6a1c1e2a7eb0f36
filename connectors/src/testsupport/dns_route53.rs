//! Route 53 answers for a `StandIn`, written from the API reference (version 2013-04-01), for what
//! moto does not do: check signatures, throttle, fail, page `ListHostedZonesByName`, or report a
//! change `PENDING`. The real API is tested against moto (`Moto`).
//! Invariant: every body here has the documented element names and namespace.

const NAMESPACE: &str = "https://route53.amazonaws.com/doc/2013-04-01/";
pub const ROUTE53_XML: &str = "text/xml";

/// The documented error body: `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>`.
pub fn route53_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>e3b2c1a0-request-id</RequestId></ErrorResponse>"
    )
}

/// A `ListHostedZonesByNameResponse` page: zones as (id, name, private), and where the next page
/// starts when it is truncated.
pub fn route53_zone_page(zones: &[(&str, &str, bool)], next: Option<(&str, &str)>) -> String {
    let zones: String = zones
        .iter()
        .map(|(id, name, private)| {
            format!(
                "<HostedZone><Id>/hostedzone/{id}</Id><Name>{name}</Name><CallerReference>r-{id}</CallerReference><Config><PrivateZone>{private}</PrivateZone></Config><ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone>"
            )
        })
        .collect();
    let next = match next {
        Some((name, id)) => {
            format!(
                "<IsTruncated>true</IsTruncated><NextDNSName>{name}</NextDNSName><NextHostedZoneId>{id}</NextHostedZoneId>"
            )
        }
        None => "<IsTruncated>false</IsTruncated>".into(),
    };
    format!(
        "<?xml version=\"1.0\"?>\n<ListHostedZonesByNameResponse xmlns=\"{NAMESPACE}\"><HostedZones>{zones}</HostedZones>{next}<MaxItems>100</MaxItems></ListHostedZonesByNameResponse>"
    )
}

/// A `ListResourceRecordSetsResponse` with no record set at or after the name asked for.
pub fn route53_no_record_sets() -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<ListResourceRecordSetsResponse xmlns=\"{NAMESPACE}\"><ResourceRecordSets></ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>1</MaxItems></ListResourceRecordSetsResponse>"
    )
}

/// The answer to `ChangeResourceRecordSets` (`root` `ChangeResourceRecordSetsResponse`) or
/// `GetChange` (`GetChangeResponse`): a `ChangeInfo` with `status` (`PENDING` or `INSYNC`).
pub fn route53_change(root: &str, id: &str, status: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<{root} xmlns=\"{NAMESPACE}\"><ChangeInfo><Id>/change/{id}</Id><Status>{status}</Status><SubmittedAt>2026-12-05T07:00:00.000Z</SubmittedAt></ChangeInfo></{root}>"
    )
}
