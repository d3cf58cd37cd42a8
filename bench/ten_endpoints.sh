# shellcheck shell=bash
# ten_endpoint_plan PORT: prints the plan of a two-second, 100 req/s run
# over ten endpoints of the demo service on 127.0.0.1:PORT, the template
# bench/synth_hour.rs stretches to an hour (bench/compare_speed.sh,
# bench/report_speed.sh). Source it, don't run it.
ten_endpoint_plan() {
    echo 'name = "ten"'
    echo "target = \"http://127.0.0.1:$1\""
    for i in $(seq 1 10); do
        printf '[[endpoint]]\nname = "e%02d"\npath = "/v1/images/?q=e%d"\n' "$i" "$i"
    done
    echo '[load]'
    echo 'executor = "constant-arrival-rate"'
    echo 'rate = 100'
    echo 'duration = "2s"'
}
