//! The two HTML pages (`/verify`, the receipt check anyone may open, and the admin
//! listener's status page), served with a strict Content-Security-Policy: only their own
//! inline script and style run (allowed by SHA-256 hash, computed from the page itself, so
//! an edit can never leave the policy stale), fetches only to this origin (the status
//! page's JSON), no framing (clickjacking), no referrer (the receipt page takes its inputs
//! in the URL fragment, which browsers never send; no referrer keeps the path private
//! too), no MIME sniffing. Both pages put server text in the DOM with `textContent` only.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// `html` as a response with the security headers.
pub fn page(html: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            (header::CONTENT_SECURITY_POLICY, policy(html)),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            (header::X_FRAME_OPTIONS, "DENY".into()),
            (header::REFERRER_POLICY, "no-referrer".into()),
        ],
        html,
    )
        .into_response()
}

/// The page's policy: its inline `<script>` and `<style>` blocks by hash, nothing else.
pub fn policy(html: &str) -> String {
    let hashes = |tag: &str| {
        inline_blocks(html, tag)
            .iter()
            .map(|b| {
                let h = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b));
                format!(" 'sha256-{h}'")
            })
            .collect::<String>()
    };
    format!(
        "default-src 'none'; script-src{}; style-src{}; connect-src 'self'; img-src 'self' data:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        hashes("script"),
        hashes("style")
    )
}

/// The text of every `<tag>...</tag>` block of `html` (no attributes on the open tag).
fn inline_blocks<'a>(html: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = vec![];
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let Some(end) = body.find(&close) else { break };
        out.push(&body[..end]);
        rest = &body[end + close.len()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_page_allows_exactly_its_own_inline_script_and_style() {
        for html in [include_str!("verify.html"), include_str!("status.html")] {
            let p = policy(html);
            assert_eq!(inline_blocks(html, "script").len(), 1);
            assert_eq!(inline_blocks(html, "style").len(), 1);
            assert_eq!(p.matches("'sha256-").count(), 2, "{p}");
            assert!(!p.contains("unsafe"), "{p}");
            // No inline handler or style attribute: the policy would block it.
            for attr in [" style=\"", " onclick=", " onload=", "javascript:"] {
                assert!(!html.contains(attr), "{attr}");
            }
        }
        let h = inline_blocks("<p><script>a()</script><script>b()</script>", "script");
        assert_eq!(h, ["a()", "b()"]);
        let r = page(include_str!("verify.html"));
        assert_eq!(r.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert!(
            r.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
    }
}
