//! Form bodies as the browser sends them (`application/x-www-form-urlencoded`, keys may repeat for
//! multi-selects), and the errors a form shows beside its fields.
//! Invariant: values are taken as typed; checking them is the service's job, and its answer's
//! `field` decides which input the message goes beside.

use std::collections::BTreeMap;

use crate::service::error::ApiError;

/// The fields of one posted form, in the order sent.
#[derive(Debug, Default, Clone)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    /// Decodes a form body; one that is not form encoding reads as an empty form (every field
    /// then gets the service's "is required" answer).
    pub fn parse(body: &[u8]) -> FormData {
        FormData(serde_urlencoded::from_bytes(body).unwrap_or_default())
    }

    /// A form filled from known values (an edit form showing a record's current values).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> FormData {
        FormData(pairs)
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The value of `name`, or empty.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_owned()
    }

    /// The value of `name`, trimmed, or `None` when blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    /// Every non-blank value of `name` (a multi-select, or a list typed one per line).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| {
                v.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect::<Vec<_>>()
            })
            .collect()
    }

    /// The form without the named fields (secrets that must not be echoed back into a page).
    pub fn without(self, names: &[&str]) -> FormData {
        FormData(self.0.into_iter().filter(|(k, _)| !names.contains(&k.as_str())).collect())
    }

    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v == "on" || v == "true" || v == "1")
    }
}

/// Messages for a form: one per field, and one for the form as a whole.
#[derive(Debug, Default, Clone)]
pub struct FieldErrors {
    fields: BTreeMap<String, String>,
    pub general: Option<String>,
}

impl FieldErrors {
    /// The service's refusal placed beside its field: `sans[2]` goes to `sans`, `config.secret`
    /// to `secret`, a field the form does not show to the form as a whole.
    pub fn from_api(e: &ApiError, shown: &[&str]) -> FieldErrors {
        let mut errors = FieldErrors::default();
        // The form's input is named by the whole path (`propagation.resolvers`) or by its last
        // part (`config.api_url` → `api_url`); an index (`[1]`) marks the one list input.
        let field = e.field.as_deref().map(|f| {
            let base = f.split('[').next().unwrap_or(f);
            match shown.contains(&base) {
                true => base.to_owned(),
                false => base.rsplit('.').next().unwrap_or(base).to_owned(),
            }
        });
        match field {
            Some(f) if shown.contains(&f.as_str()) => {
                errors.fields.insert(f, e.detail.clone());
            }
            Some(f) => errors.general = Some(format!("{f}: {}", e.detail)),
            None => errors.general = Some(e.detail.clone()),
        }
        errors
    }

    /// The message for `field`, if any.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    /// `true` on the input whose field has a message (`aria-invalid`).
    pub fn invalid(&self, field: &str) -> &'static str {
        if self.fields.contains_key(field) { "true" } else { "false" }
    }

    /// A message for the form as a whole.
    pub fn whole(message: impl Into<String>) -> FieldErrors {
        FieldErrors { fields: BTreeMap::new(), general: Some(message.into()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Repeated keys are all kept (multi-selects), a textarea's lines are separate values, and a
    /// body that is not form encoding is an empty form rather than an error.
    #[test]
    fn forms_keep_repeated_keys_and_lines() {
        let form = FormData::parse(b"target_ids=a&target_ids=b&sans=x.test%0D%0Ay.test%0D%0A&flag=on&blank=+");
        assert_eq!(form.all("target_ids"), ["a", "b"]);
        assert_eq!(form.all("sans"), ["x.test", "y.test"]);
        assert!(form.checked("flag") && !form.checked("other"));
        assert_eq!(form.optional("blank"), None);
        assert!(FormData::parse(b"%zz=\xff").get("x").is_none());
    }

    /// A service error lands beside the field it names (indices and paths stripped to the input's
    /// name); one naming a field the form lacks goes to the form as a whole.
    #[test]
    fn errors_land_beside_their_field() {
        let e = ApiError::invalid("sans[1]", "not a domain name");
        let errors = FieldErrors::from_api(&e, &["common_name", "sans"]);
        assert_eq!(errors.get("sans"), Some("not a domain name"));
        assert_eq!(errors.invalid("sans"), "true");
        let nested = FieldErrors::from_api(&ApiError::invalid("config.secret", "bad base64"), &["secret"]);
        assert_eq!(nested.get("secret"), Some("bad base64"));
        let other = FieldErrors::from_api(&ApiError::invalid("elsewhere", "wrong"), &["name"]);
        assert_eq!(other.general.as_deref(), Some("elsewhere: wrong"));
    }
}
