use super::*;

fn subject(action: ApprovalAction, names: &[&str]) -> ApprovalSubject {
    ApprovalSubject {
        action,
        names: names.iter().map(|n| (*n).to_owned()).collect(),
        key_type: KeyType::EcdsaP256,
        issuers: vec![],
        profile: None,
        target_ids: vec![],
    }
}

fn rules(rules: Vec<ApprovalRule>) -> ApprovalPolicy {
    ApprovalPolicy { require: ApprovalRequirement::Rules, rules, ..Default::default() }
}

/// Each rule matches what it names and nothing else, with a reason that says which.
#[test]
fn rules_match_what_they_name() {
    let prod = rules(vec![ApprovalRule::Names { patterns: vec!["*.prod.example.com".into()] }]);
    let hit = prod.reasons(&subject(ApprovalAction::Issue, &["www.example.com", "API.prod.example.com"]));
    assert_eq!(hit, vec!["name API.prod.example.com matches *.prod.example.com"]);
    assert!(prod.reasons(&subject(ApprovalAction::Issue, &["prod.example.com", "xprod.example.com"])).is_empty());
    assert!(!prod.reasons(&subject(ApprovalAction::Renew, &["a.b.prod.example.com"])).is_empty(), "any depth");

    let wildcard = rules(vec![ApprovalRule::Wildcard]);
    assert_eq!(
        wildcard.reasons(&subject(ApprovalAction::Issue, &["*.example.com"])),
        vec!["wildcard name *.example.com"]
    );
    assert!(wildcard.reasons(&subject(ApprovalAction::Issue, &["www.example.com"])).is_empty());

    let rsa = rules(vec![ApprovalRule::KeyTypes { key_types: vec![KeyType::Rsa4096] }]);
    let mut s = subject(ApprovalAction::Issue, &["a.example.com"]);
    assert!(rsa.reasons(&s).is_empty());
    s.key_type = KeyType::Rsa4096;
    assert_eq!(rsa.reasons(&s), vec!["key type \"rsa4096\""]);

    let account = AcmeAccountId::new();
    let issuer = rules(vec![ApprovalRule::Issuers { acme_account_ids: vec![account] }]);
    assert!(issuer.reasons(&s).is_empty());
    s.issuers = vec![AcmeAccountId::new(), account];
    assert_eq!(issuer.reasons(&s), vec![format!("issuer {account}")], "a fallback issuer counts too");

    let target = TargetId::new();
    let targets = rules(vec![ApprovalRule::Targets { target_ids: vec![target] }]);
    assert!(targets.reasons(&s).is_empty());
    s.target_ids = vec![target];
    assert_eq!(targets.reasons(&s), vec![format!("distribution to target {target}")]);

    let profiles = rules(vec![ApprovalRule::Profiles { profiles: vec!["shortlived".into()] }]);
    assert!(profiles.reasons(&s).is_empty());
    s.profile = Some("shortlived".into());
    assert_eq!(profiles.reasons(&s), vec!["ACME profile shortlived"]);

    let revocation = rules(vec![ApprovalRule::Revocation]);
    assert!(revocation.reasons(&s).is_empty());
    assert_eq!(
        revocation.reasons(&subject(ApprovalAction::Revoke { reason: "superseded".into() }, &["a.example.com"])),
        vec!["a revocation"]
    );
}

/// `none` needs nothing, `all` everything, and `rules` every matching rule's reason.
#[test]
fn the_requirement_decides_first() {
    let s = subject(ApprovalAction::Distribute, &["*.prod.example.com"]);
    let mut policy =
        rules(vec![ApprovalRule::Wildcard, ApprovalRule::Names { patterns: vec!["*.prod.example.com".into()] }]);
    assert_eq!(policy.reasons(&s).len(), 2);
    policy.require = ApprovalRequirement::None;
    assert!(policy.reasons(&s).is_empty());
    policy.require = ApprovalRequirement::All;
    assert_eq!(policy.reasons(&subject(ApprovalAction::Renew, &["x.test"])).len(), 1);
}

/// A policy out of bounds or with a pattern that is no name is refused with its field.
#[test]
fn bad_policies_name_their_field() {
    let field = |p: ApprovalPolicy| p.validate().unwrap_err().field;
    assert_eq!(field(ApprovalPolicy { expire_after_hours: 0, ..Default::default() }), "expire_after_hours");
    assert_eq!(field(rules(vec![])), "rules");
    assert_eq!(field(rules(vec![ApprovalRule::Names { patterns: vec!["bad name".into()] }])), "rules[0]");
    assert_eq!(field(rules(vec![ApprovalRule::Wildcard, ApprovalRule::KeyTypes { key_types: vec![] }])), "rules[1]");
    assert!(rules(vec![ApprovalRule::Names { patterns: vec!["*.prod.example.com".into()] }]).validate().is_ok());
    let unknown: Result<ApprovalRule, _> =
        serde_json::from_value(serde_json::json!({ "kind": "names", "patterns": [], "x": 1 }));
    assert!(unknown.is_err(), "unknown fields are refused");
}

/// Only a pending request in time is decided, never by its requester, and only once.
#[test]
fn a_request_is_decided_once_in_time_by_someone_else() {
    let now = Timestamp::from_unix_millis(1_800_000_000_000);
    let requester = UserId::new();
    let admin = UserId::new();
    let mut r = ApprovalRequest::new(
        ProjectId::new(),
        CertificateId::new(),
        ApprovalAction::Issue,
        requester,
        vec!["x".into()],
        2,
        now,
    );
    assert_eq!(r.decide(true, requester, None, now), Err(DecisionError::OwnRequest));
    r.decide(true, admin, Some("ok".into()), now).unwrap();
    assert_eq!(r.status, ApprovalStatus::Granted);
    assert_eq!(r.decide(false, admin, None, now), Err(DecisionError::Decided("granted")));

    let mut late =
        ApprovalRequest::new(ProjectId::new(), CertificateId::new(), ApprovalAction::Renew, requester, vec![], 2, now);
    let after = now.saturating_add(std::time::Duration::from_secs(2 * 3_600));
    assert!(matches!(late.decide(true, admin, None, after), Err(DecisionError::Expired(_))));
    assert!(!late.expire(now), "not yet");
    assert!(late.expire(after));
    assert_eq!(late.status, ApprovalStatus::Expired);
    assert!(!late.expire(after), "once");
}
