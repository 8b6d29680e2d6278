//! Query parameters of API requests. Clients write them form-encoded (Go's `url.Values`, which
//! kubectl and client-go use, writes a space as `+`), which `form_urlencoded` decodes as Go's
//! `url.ParseQuery` does: `+` is a space, `%XX` a byte, an invalid escape is kept as written.

use axum::http::Uri;

/// The first value of the query parameter `name`, decoded.
pub(super) fn query_param(uri: &Uri, name: &str) -> Option<String> {
    form_urlencoded::parse(uri.query()?.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Whether a boolean parameter is set (`1` or `true`, any case), as the API server reads them.
pub(super) fn truthy(v: Option<String>) -> bool {
    v.is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(query: &str, name: &str) -> Option<String> {
        query_param(&format!("/api/v1/pods?{query}").parse::<Uri>().expect("uri"), name)
    }

    #[test]
    fn values_are_form_decoded() {
        assert_eq!(param("labelSelector=a%3Db%2Cc+d", "labelSelector").as_deref(), Some("a=b,c d"));
        assert_eq!(param("x=a%2Bb+c%zz", "x").as_deref(), Some("a+b c%zz"), "an invalid escape is kept");
        assert_eq!(param("watch&limit=2", "watch").as_deref(), Some(""), "a name without a value");
        assert_eq!(param("limit=1&limit=2", "limit").as_deref(), Some("1"), "the first value counts");
        assert_eq!(param("limit=1", "watch"), None);
        assert!(truthy(param("watch=True", "watch")) && truthy(param("watch=1", "watch")) && !truthy(param("watch=0", "watch")));
    }
}
