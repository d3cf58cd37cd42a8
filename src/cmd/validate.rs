//! `loadcheck validate`: checks a plan without sending anything, and the
//! plan loading every command that takes a plan shares.

use crate::cli::PlanArgs;
use crate::exit::Exit;
use crate::plan::{self, Overrides, Plan};

/// `loadcheck validate`.
pub fn validate(args: &PlanArgs) -> Exit {
    match load_plan(args) {
        Ok(plan) => {
            println!(
                "{}: ok ({} scenarios, {} endpoints)",
                args.plan.display(),
                plan.scenarios.len(),
                plan.endpoints.len()
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
