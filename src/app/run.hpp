// Blocks the calling (main) thread until SIGINT or SIGTERM arrives, or `max_seconds` pass (0 = no
// limit). Returns the signal number, or 0 on timeout.
#pragma once

namespace herald::app {
int wait_for_stop_signal(unsigned max_seconds = 0);
}
