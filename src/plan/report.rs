//! `[report]`: what the reports say beyond what was measured: a title,
//! links, and the manual items of the release sign-off checklist.

use serde::{Deserialize, Serialize};

/// `[report]`, validated. Empty when the plan has none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportConfig {
    /// The reports' title (the plan's name when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Links shown under the title (runbooks, dashboards).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<ReportLink>,
    /// `[[report.signoff]]`: items people tick by hand on the sign-off.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signoff: Vec<SignoffItem>,
}

impl ReportConfig {
    /// Whether the plan had nothing to say (nothing is recorded then).
    pub fn is_empty(&self) -> bool {
        self == &ReportConfig::default()
    }
}

/// One link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportLink {
    /// Its text.
    pub name: String,
    /// An `http` or `https` URL.
    pub url: String,
}

/// A manual sign-off item: something no run measures (a failover drill, a
/// review), listed for people to tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignoffItem {
    /// What must hold.
    pub name: String,
    /// Its target, as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// How it is checked, or who checks it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
