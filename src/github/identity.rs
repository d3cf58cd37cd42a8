//! Who the token is, so that loadcheck edits only what it wrote itself.
//!
//! A personal access token answers `GET /user`. An installation token (the
//! workflow's own `GITHUB_TOKEN`, or a GitHub App's) gets `403 Resource not
//! accessible by integration` there, but GraphQL's `viewer` answers it with
//! the bot's login.

use http::Method;
use serde::Deserialize;

use super::client::GitHub;
use super::errors::GitHubError;
use super::models::User;

/// The account a token acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Its login, as `GET /user` or GraphQL's `viewer` gave it.
    pub login: String,
    /// Its id, when `GET /user` gave it.
    pub id: Option<u64>,
    /// Whether it is an installation (a bot): `GET /user` refused it and
    /// GraphQL's `viewer` named it.
    pub bot: bool,
}

impl Identity {
    /// Whether `user` is this account.
    ///
    /// With an id (`GET /user`), the ids are compared. A bot known by its
    /// login alone matches only a `Bot` account of that login: a bot's login
    /// reads `name[bot]` in REST and may read `name` in GraphQL, so the
    /// suffix is ignored, but a person who registered `name` is not the bot
    /// `name[bot]`. Logins are compared without case, as GitHub treats them.
    pub fn is(&self, user: Option<&User>) -> bool {
        let Some(user) = user else { return false };
        if let Some(id) = self.id {
            return user.id == Some(id);
        }
        let same_login = bare(&self.login).eq_ignore_ascii_case(bare(&user.login));
        if self.bot {
            same_login && user.kind.as_deref() == Some("Bot")
        } else {
            same_login && self.login.eq_ignore_ascii_case(&user.login)
        }
    }
}

fn bare(login: &str) -> &str {
    login.strip_suffix("[bot]").unwrap_or(login)
}

#[derive(Deserialize)]
struct Viewer {
    #[serde(default)]
    data: Option<ViewerData>,
    #[serde(default)]
    errors: Vec<GraphQlError>,
}

#[derive(Deserialize)]
struct ViewerData {
    viewer: Option<ViewerLogin>,
}

#[derive(Deserialize)]
struct ViewerLogin {
    login: String,
}

#[derive(Deserialize)]
struct GraphQlError {
    #[serde(default)]
    message: String,
}

impl GitHub {
    /// Who the token is: `GET /user`, then GraphQL's `viewer` when that is
    /// refused (an installation token).
    pub async fn identity(&self) -> Result<Identity, GitHubError> {
        let rest = match self.send(Method::GET, "/user", None).await {
            Ok(reply) => match serde_json::from_slice::<User>(&reply.body) {
                Ok(user) => {
                    return Ok(Identity {
                        bot: user.kind.as_deref() == Some("Bot"),
                        login: user.login,
                        id: user.id,
                    });
                }
                Err(e) => format!("GET /user returned a body loadcheck cannot read: {e}"),
            },
            // 401: the token is not accepted anywhere; say so at once.
            Err(e @ GitHubError::Status { status: 401, .. }) => return Err(e),
            Err(e @ GitHubError::Status { .. }) => e.to_string(),
            Err(e) => return Err(e),
        };
        self.viewer().await.map_err(|e| {
            GitHubError::Input(format!(
                "cannot tell which account the token is, so loadcheck cannot tell its own comments from others': {rest}; then {e}"
            ))
        })
    }

    /// GraphQL's `viewer { login }`.
    async fn viewer(&self) -> Result<Identity, GitHubError> {
        let graphql = self.graphql()?;
        let query = serde_json::json!({ "query": "query { viewer { login } }" });
        let reply = graphql.client.send(Method::POST, &graphql.path, Some(&query)).await?;
        let route = format!("POST {}", graphql.path);
        let viewer: Viewer = serde_json::from_slice(&reply.body).map_err(|e| GitHubError::Decode {
            route: route.clone(),
            reason: e.to_string(),
        })?;
        match viewer.data.and_then(|d| d.viewer) {
            Some(v) => Ok(Identity {
                login: v.login,
                id: None,
                bot: true,
            }),
            None => Err(GitHubError::Decode {
                route,
                reason: format!(
                    "no viewer in the answer: {}",
                    viewer
                        .errors
                        .iter()
                        .map(|e| e.message.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            }),
        }
    }

    /// A client for the GraphQL endpoint: `GITHUB_GRAPHQL_URL` when set,
    /// else beside the REST API (`https://api.github.com/graphql`, a GitHub
    /// Enterprise Server's `https://HOST/api/graphql`).
    fn graphql(&self) -> Result<GraphQl, GitHubError> {
        let url = std::env::var("GITHUB_GRAPHQL_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| graphql_url(self.api_url()));
        let (base, last) = url
            .trim_end_matches('/')
            .rsplit_once('/')
            .ok_or_else(|| GitHubError::BadUrl {
                url: url.clone(),
                reason: "no path".into(),
            })?;
        // `https://api.github.com/graphql` splits into the origin and
        // `/graphql`; the origin alone has no path to split.
        let (base, path) = if base.ends_with(':') || base.ends_with("/") {
            (url.trim_end_matches('/').to_string(), "/".to_string())
        } else {
            (base.to_string(), format!("/{last}"))
        };
        let client = GitHub::new(&base, self.token())?.with_limits_of(self);
        Ok(GraphQl { client, path })
    }
}

struct GraphQl {
    client: GitHub,
    path: String,
}

/// The GraphQL endpoint beside a REST API URL.
pub(super) fn graphql_url(api_url: &str) -> String {
    let api_url = api_url.trim_end_matches('/');
    match api_url.strip_suffix("/v3") {
        Some(root) => format!("{root}/graphql"),
        None => format!("{api_url}/graphql"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_sits_beside_the_rest_api() {
        assert_eq!(graphql_url("https://api.github.com"), "https://api.github.com/graphql");
        assert_eq!(
            graphql_url("https://ghe.example.com/api/v3/"),
            "https://ghe.example.com/api/graphql"
        );
        assert_eq!(graphql_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080/graphql");
    }

    #[test]
    fn a_bot_is_itself_with_or_without_its_suffix() {
        let me = Identity {
            login: "github-actions".into(),
            id: None,
            bot: true,
        };
        let user = |login: &str, id: Option<u64>, kind: &str| User {
            login: login.into(),
            id,
            kind: Some(kind.into()),
        };
        assert!(me.is(Some(&user("github-actions[bot]", Some(41898282), "Bot"))));
        assert!(me.is(Some(&user("GitHub-Actions[bot]", None, "Bot"))));
        // A person who registered the bot's name is not the bot.
        assert!(!me.is(Some(&user("github-actions", Some(5), "User"))));
        assert!(!me.is(Some(&user("octocat", Some(1), "User"))));
        assert!(!me.is(None));
        let pat = Identity {
            login: "octocat".into(),
            id: Some(1),
            bot: false,
        };
        assert!(pat.is(Some(&user("octocat", Some(1), "User"))));
        assert!(!pat.is(Some(&user("octocat", Some(2), "User"))));
    }
}
