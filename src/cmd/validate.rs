//! `loadcheck validate`: checks a plan without sending anything, and the
//! plan loading every command that takes a plan shares.

use crate::cli::{PlanArgs, ValidateArgs};
use crate::exit::Exit;
use crate::plan::{self, Overrides, Plan};

/// `loadcheck validate`. An unset environment variable the plan reads is a
/// warning unless `--require-secrets`; `run` always refuses it.
pub fn validate(args: &ValidateArgs) -> Exit {
    let checked = if args.require_secrets {
        load_plan(&args.plan).map(|plan| (plan, Vec::new()))
    } else {
        plan::lint(&args.plan.plan, &overrides(&args.plan)).map_err(|e| {
            eprintln!("error: {e}");
            Exit::BadInput
        })
    };
    match checked {
        Ok((plan, unset)) => {
            for e in &unset {
                eprintln!("warning: {e}; `run` needs it (--require-secrets makes this an error)");
            }
            println!(
                "{}: ok ({} scenarios, {} endpoints{})",
                args.plan.plan.display(),
                plan.scenarios.len(),
                plan.endpoints.len(),
                match unset.len() {
                    0 => String::new(),
                    n => format!(", {n} environment variable(s) unset"),
                }
            );
            Exit::Pass
        }
        Err(code) => code,
    }
}

fn overrides(args: &PlanArgs) -> Overrides {
    Overrides {
        target: args.target.clone(),
        duration: args.duration,
        rate: args.rate,
        vus: args.vus,
    }
}

/// Loads and validates a plan; a bad plan is reported and exits 2.
pub fn load_plan(args: &PlanArgs) -> Result<Plan, Exit> {
    plan::load(&args.plan, &overrides(args)).map_err(|e| {
        eprintln!("error: {e}");
        Exit::BadInput
    })
}
