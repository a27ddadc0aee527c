# farm_common.bash — kept only for tests/integration/strategies_schedule.sh (area strategies, being
# written now): the preamble the farm_*.sh scripts have on top of lib.bash. Once that script sources
# lib.bash itself (these same four lines), delete this file.
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
need_bins farmd farm-worker farm
use_tcp_endpoint
quick_timing
