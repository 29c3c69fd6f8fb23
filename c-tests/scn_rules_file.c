/* Rule sources and their order (docs "Variables"): rules from SOCKSWAP_RULES
 * (separated by ';' or newlines), then SOCKSWAP_RULES_FILE (one per line,
 * blank lines and '#' comments ignored), then the UNSOCK_* rule; first match
 * wins.  UNSOCK_DIR is created if missing. */
#include "harness.h"

int main(void) {
    harness_preload_env("in,port=9501,path={D}/env-%p.sock\nin,port=9502,path={D}/env-%p.sock",
                        "SOCKSWAP_RULES_FILE={D}/rules",
                        "@file:rules=# a comment\n\n"
                        "in,port=9501-9503,path={D}/file-%p.sock\n"
                        "# another comment\n",
                        "UNSOCK_DIR={D}/unsock", "UNSOCK_ADDR=127.0.0.1/32", (const char *)NULL);
    int l1 = tcp_listen("127.0.0.1", 9501);
    int l2 = tcp_listen("127.0.0.1", 9502);
    int l3 = tcp_listen("127.0.0.1", 9503);
    int l4 = tcp_listen("127.0.0.1", 9505);
    CHECK(is_socket_file(tpath("env-9501.sock")), "SOCKSWAP_RULES rule 1 not first (dir: %s)", list_dir(h_dir));
    CHECK(is_socket_file(tpath("env-9502.sock")), "newline-separated rule 2 not used (dir: %s)", list_dir(h_dir));
    CHECK(is_socket_file(tpath("file-9503.sock")), "rules file not used (dir: %s)", list_dir(h_dir));
    CHECK(is_socket_file(tpath("unsock/9505.sock")), "UNSOCK rule not used after the others (dir: %s)",
          list_dir(h_dir));
    close(l1);
    close(l2);
    close(l3);
    close(l4);
    return 0;
}
