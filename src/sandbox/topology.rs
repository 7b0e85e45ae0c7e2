//! Which environments the sandbox world has, on which branches, with which services.
//!
//! The built-in demo has dev (`main`), staging and prod (a web service and a worker); a
//! config given to `shipdeck demo --config` brings its own chain. The world scripts the
//! same story on any chain by position: commits land on the first environment's branch and
//! its CI deploys them, every later environment is promoted from the one before it, and the
//! last one is production (where defects show and most errors happen).

use serde::{Deserialize, Serialize};

/// One environment of the world.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxEnvironment {
    pub name: String,
    pub branch: String,
    /// GitHub deployment environments, one per service; the first is the one whose
    /// deployment says what the environment runs.
    pub services: Vec<String>,
    /// shipdeck promotes into it by itself (`auto_promote`): after the opening history the
    /// world's own captain leaves it alone, so what moves it is shipdeck's auto-promotion.
    #[serde(default)]
    pub auto_promoted: bool,
}

/// Where an environment sits in the chain, which decides what the world does there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Commits land on its branch; its CI deploys them.
    Entry,
    /// Promoted from the environment before it, not the last.
    Middle,
    /// The last environment.
    Production,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    #[error("needs at least two environments (a chain to promote along), got {0}")]
    TooFew(usize),
    #[error("environment #{0} has an empty name")]
    EmptyName(usize),
    #[error("environment {0:?} is listed twice")]
    DuplicateName(String),
    #[error("environments {0:?} and {1:?} share the branch {2:?}")]
    SharedBranch(String, String, String),
    #[error("environment {0:?} has an empty branch name")]
    EmptyBranch(String),
    #[error("service {0:?} belongs to two environments")]
    SharedService(String),
    #[error("environment {0:?} has an empty service name")]
    EmptyService(String),
}

/// The validated chain of environments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    environments: Vec<SandboxEnvironment>,
}

impl Topology {
    /// The built-in demo's chain.
    pub fn demo() -> Topology {
        let environment = |name: &str, branch: &str, services: &[&str]| SandboxEnvironment {
            name: name.to_string(),
            branch: branch.to_string(),
            services: services.iter().map(|s| s.to_string()).collect(),
            auto_promoted: false,
        };
        Topology {
            environments: vec![
                environment("dev", "main", &["dev"]),
                environment("staging", "staging", &["staging"]),
                environment("prod", "prod", &["prod", "prod-worker"]),
            ],
        }
    }

    /// A chain in promotion order; an environment without services gets one named after it.
    pub fn new(mut environments: Vec<SandboxEnvironment>) -> Result<Topology, TopologyError> {
        if environments.len() < 2 {
            return Err(TopologyError::TooFew(environments.len()));
        }
        for (index, environment) in environments.iter_mut().enumerate() {
            if environment.name.trim().is_empty() {
                return Err(TopologyError::EmptyName(index + 1));
            }
            if environment.branch.trim().is_empty() {
                return Err(TopologyError::EmptyBranch(environment.name.clone()));
            }
            if environment.services.is_empty() {
                environment.services.push(environment.name.clone());
            }
            if environment.services.iter().any(|s| s.trim().is_empty()) {
                return Err(TopologyError::EmptyService(environment.name.clone()));
            }
        }
        for (index, environment) in environments.iter().enumerate() {
            for earlier in &environments[..index] {
                if earlier.name == environment.name {
                    return Err(TopologyError::DuplicateName(environment.name.clone()));
                }
                if earlier.branch == environment.branch {
                    return Err(TopologyError::SharedBranch(
                        earlier.name.clone(),
                        environment.name.clone(),
                        environment.branch.clone(),
                    ));
                }
                if let Some(shared) = environment
                    .services
                    .iter()
                    .find(|s| earlier.services.contains(s))
                {
                    return Err(TopologyError::SharedService(shared.clone()));
                }
            }
            let mut services = environment.services.clone();
            services.sort();
            if let Some(pair) = services.windows(2).find(|pair| pair[0] == pair[1]) {
                return Err(TopologyError::SharedService(pair[0].clone()));
            }
        }
        Ok(Topology { environments })
    }

    pub fn environments(&self) -> &[SandboxEnvironment] {
        &self.environments
    }

    pub fn find(&self, name: &str) -> Option<&SandboxEnvironment> {
        self.environments.iter().find(|e| e.name == name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    pub fn by_branch(&self, branch: &str) -> Option<&SandboxEnvironment> {
        self.environments.iter().find(|e| e.branch == branch)
    }

    /// The environment a GitHub deployment environment (a service) belongs to.
    pub fn by_service(&self, service: &str) -> Option<&SandboxEnvironment> {
        self.environments
            .iter()
            .find(|e| e.services.iter().any(|s| s == service))
    }

    /// The first environment: its branch is the trunk commits land on.
    pub fn entry(&self) -> &SandboxEnvironment {
        &self.environments[0]
    }

    /// The branch commits land on (the repository's default branch).
    pub fn trunk(&self) -> &str {
        &self.entry().branch
    }

    /// The last environment.
    pub fn production(&self) -> &SandboxEnvironment {
        &self.environments[self.environments.len() - 1]
    }

    /// The environment `name` is promoted from: the one before it.
    pub fn source_of(&self, name: &str) -> Option<&SandboxEnvironment> {
        let index = self.environments.iter().position(|e| e.name == name)?;
        index.checked_sub(1).map(|i| &self.environments[i])
    }

    /// The environment just before production (the demo's staging; with two environments,
    /// the entry).
    pub fn pre_production(&self) -> &SandboxEnvironment {
        &self.environments[self.environments.len() - 2]
    }

    pub fn role(&self, name: &str) -> Option<Role> {
        let index = self.environments.iter().position(|e| e.name == name)?;
        Some(if index == 0 {
            Role::Entry
        } else if index + 1 == self.environments.len() {
            Role::Production
        } else {
            Role::Middle
        })
    }

    /// The names of the environments in `role`, in chain order.
    pub fn names_in(&self, role: Role) -> Vec<&str> {
        self.environments
            .iter()
            .filter(|e| self.role(&e.name) == Some(role))
            .map(|e| e.name.as_str())
            .collect()
    }

    /// The environments that play the part `demo_name` plays in the demo's chain (data
    /// written for the demo, such as which environments a seeded Sentry issue is seen in).
    pub fn playing(&self, demo_name: &str) -> Vec<&str> {
        Topology::demo()
            .role(demo_name)
            .map(|role| self.names_in(role))
            .unwrap_or_default()
    }

    /// Whether `branch` is protected: the trunk and production's branch.
    pub fn is_protected(&self, branch: &str) -> bool {
        branch == self.trunk() || branch == self.production().branch
    }
}

impl Default for Topology {
    fn default() -> Topology {
        Topology::demo()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str, branch: &str, services: &[&str]) -> SandboxEnvironment {
        SandboxEnvironment {
            name: name.into(),
            branch: branch.into(),
            services: services.iter().map(|s| s.to_string()).collect(),
            auto_promoted: false,
        }
    }

    #[test]
    fn the_demo_chain_has_its_roles() {
        let demo = Topology::demo();
        assert_eq!(demo.trunk(), "main");
        assert_eq!(demo.role("dev"), Some(Role::Entry));
        assert_eq!(demo.role("staging"), Some(Role::Middle));
        assert_eq!(demo.role("prod"), Some(Role::Production));
        assert_eq!(demo.role("qa"), None);
        assert_eq!(
            demo.source_of("prod").map(|e| e.name.as_str()),
            Some("staging")
        );
        assert_eq!(demo.source_of("dev"), None);
        assert_eq!(
            demo.by_service("prod-worker").map(|e| e.name.as_str()),
            Some("prod")
        );
        assert_eq!(demo.pre_production().name, "staging");
        assert!(demo.is_protected("main") && demo.is_protected("prod"));
        assert!(!demo.is_protected("staging"));
    }

    #[test]
    fn a_two_environment_chain_with_services() {
        let chain = Topology::new(vec![
            env("staging", "main", &["staging-web", "staging-worker"]),
            env("production", "prod", &[]),
        ])
        .expect("valid");
        assert_eq!(chain.trunk(), "main");
        assert_eq!(chain.production().services, ["production"]);
        assert_eq!(chain.pre_production().name, "staging");
        assert_eq!(chain.names_in(Role::Middle), Vec::<&str>::new());
        assert_eq!(
            chain.by_branch("prod").map(|e| e.name.as_str()),
            Some("production")
        );
        assert_eq!(chain.playing("dev"), ["staging"]);
        assert_eq!(chain.playing("prod"), ["production"]);
        assert!(chain.playing("staging").is_empty());
    }

    #[test]
    fn a_chain_that_cannot_be_scripted_says_why() {
        let cases = [
            (vec![env("prod", "main", &[])], TopologyError::TooFew(1)),
            (
                vec![env("dev", "main", &[]), env("dev", "prod", &[])],
                TopologyError::DuplicateName("dev".into()),
            ),
            (
                vec![env("dev", "main", &[]), env("prod", "main", &[])],
                TopologyError::SharedBranch("dev".into(), "prod".into(), "main".into()),
            ),
            (
                vec![env("dev", "main", &["web"]), env("prod", "prod", &["web"])],
                TopologyError::SharedService("web".into()),
            ),
            (
                vec![env("dev", "main", &["a", "a"]), env("prod", "prod", &[])],
                TopologyError::SharedService("a".into()),
            ),
            (
                vec![env(" ", "main", &[]), env("prod", "prod", &[])],
                TopologyError::EmptyName(1),
            ),
        ];
        for (environments, expected) in cases {
            assert_eq!(Topology::new(environments), Err(expected));
        }
    }
}
