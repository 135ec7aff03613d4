//! Who may own a task (SPEC section 8): the owner check is the loader's
//! ([`crate::config::check_owner`]), so YAML and `--owner` accept exactly the same names. The
//! table here pins down what it accepts.

#[cfg(test)]
mod tests {
    use crate::config::check_owner;
    use crate::work::testing::config;

    #[test]
    fn owners() {
        let agents = "kind: Agent\nid: fakker\nname: Fakker\nrole: orchestrator\n---\n\
                      kind: Agent\nid: backend\nname: Backend\nrole: subagent\nparent: fakker\n";
        let with_humans = config(agents, Some("humans: [Khaled]\n"));
        let without_humans = config(agents, None);
        // (owner, with `humans: [Khaled]`, without `humans`)
        type Case = (&'static str, Result<(), &'static str>, Result<(), &'static str>);
        let cases: &[Case] = &[
            ("Fakker", Ok(()), Ok(())),
            ("fakker", Ok(()), Ok(())),
            ("FAKKER", Ok(()), Ok(())),
            ("backend", Ok(()), Ok(())),
            ("Subagent:Backend", Ok(()), Ok(())),
            ("Subagent:QA", Ok(()), Ok(())),
            ("Subagent:Research", Ok(()), Ok(())),
            ("Subagent:Backoffice", Ok(()), Ok(())),
            (
                "Subagent:backend",
                Err(
                    "unknown subagent role \"backend\"; write one of Subagent:Backend|Frontend|Infra|QA|Research|Backoffice",
                ),
                Err(
                    "unknown subagent role \"backend\"; write one of Subagent:Backend|Frontend|Infra|QA|Research|Backoffice",
                ),
            ),
            ("Automation:nightly-backup", Ok(()), Ok(())),
            ("Automation: ", Err("`Automation:` needs a name"), Err("`Automation:` needs a name")),
            ("Human:Khaled", Ok(()), Ok(())),
            ("Human:Bob", Err("human \"Bob\" is not listed in the settings' `humans` (Khaled)"), Ok(())),
            ("Human:", Err("`Human:` needs a name"), Err("`Human:` needs a name")),
            (
                "Bob",
                Err(
                    "\"Bob\" is not an agent (by name or id), Subagent:<Role>, Automation:<name> or Human:<name>",
                ),
                Err(
                    "\"Bob\" is not an agent (by name or id), Subagent:<Role>, Automation:<name> or Human:<name>",
                ),
            ),
            (
                "",
                Err(
                    "\"\" is not an agent (by name or id), Subagent:<Role>, Automation:<name> or Human:<name>",
                ),
                Err(
                    "\"\" is not an agent (by name or id), Subagent:<Role>, Automation:<name> or Human:<name>",
                ),
            ),
        ];
        for (owner, listed, open) in cases {
            let as_owned = |r: &Result<(), &str>| r.map_err(str::to_string);
            assert_eq!(check_owner(&with_humans, owner), as_owned(listed), "{owner} with humans");
            assert_eq!(check_owner(&without_humans, owner), as_owned(open), "{owner} without humans");
        }
    }
}
