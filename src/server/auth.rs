//! The bearer token that guards the mutating routes (`SERIN_API_TOKEN`).
//!
//! No token configured means the mutating routes are off (403), never open: a daemon that
//! changes production traffic must not take orders from whoever reaches its port.

use axum::http::{HeaderMap, StatusCode, header};
use subtle::ConstantTimeEq;

#[derive(Clone)]
pub struct ApiToken(Option<String>);

impl ApiToken {
    /// An empty or blank token counts as none.
    pub fn new(token: Option<String>) -> ApiToken {
        ApiToken(token.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()))
    }

    pub fn is_configured(&self) -> bool {
        self.0.is_some()
    }

    /// `Ok` when the request may mutate; otherwise the status and why.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), (StatusCode, &'static str)> {
        let Some(expected) = &self.0 else {
            return Err((StatusCode::FORBIDDEN, "mutating routes are disabled: SERIN_API_TOKEN is not set"));
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match presented {
            None => Err((StatusCode::UNAUTHORIZED, "missing bearer token (Authorization: Bearer …)")),
            // Constant time in the token's content (a length mismatch is all it leaks).
            Some(token) if bool::from(token.as_bytes().ct_eq(expected.as_bytes())) => Ok(()),
            Some(_) => Err((StatusCode::UNAUTHORIZED, "wrong bearer token")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn only_the_configured_token_passes() {
        let token = ApiToken::new(Some("s3cret".into()));
        assert!(token.check(&bearer("Bearer s3cret")).is_ok());
        assert_eq!(token.check(&bearer("Bearer s3cre")).unwrap_err().0, StatusCode::UNAUTHORIZED);
        assert_eq!(token.check(&bearer("Bearer s3cret2")).unwrap_err().0, StatusCode::UNAUTHORIZED);
        assert_eq!(token.check(&bearer("Basic s3cret")).unwrap_err().0, StatusCode::UNAUTHORIZED);
        assert_eq!(token.check(&HeaderMap::new()).unwrap_err().0, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn without_a_token_mutations_are_forbidden_whatever_is_sent() {
        for configured in [None, Some(String::new()), Some("  ".into())] {
            let token = ApiToken::new(configured);
            assert!(!token.is_configured());
            assert_eq!(token.check(&bearer("Bearer ")).unwrap_err().0, StatusCode::FORBIDDEN);
        }
    }
}
