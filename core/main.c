/* sipswitch: command line. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "daemon.h"
#include "sipswitch/module.h"
#include "sipswitch/version.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sipswitch [-c FILE] [--module-path DIRS] [--check | --dump-params [--format=md] | --version]\n"
            "\n"
            "  -c, --config FILE     configuration (default %s/sipswitch.cfg)\n"
            "  -M, --module-path D   colon-separated directories searched for modules before module_dir\n"
            "                        (also SIPSWITCH_MODULE_PATH)\n"
            "  -t, --check           validate cfg and script, print every error as file:line: reason\n"
            "      --dump-params     list every parameter of the core and the loaded modules\n"
            "      --format=md       with --dump-params: a Markdown reference\n"
            "  -v, --version         print the version, the module ABI and the memory allocator\n"
            "  -h, --help            this text\n"
            "\n"
            "Runs in the foreground. SIGHUP reloads cfg and script; SIGTERM/SIGINT stop it.\n",
            SW_SYSCONFDIR);
}

int main(int argc, char **argv)
{
    enum { OPT_DUMP = 256, OPT_FORMAT };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},     {"module-path", required_argument, NULL, 'M'},
        {"check", no_argument, NULL, 't'},            {"dump-params", no_argument, NULL, OPT_DUMP},
        {"format", required_argument, NULL, OPT_FORMAT}, {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0}};
    sw_daemon_options_t o = {.cfg_path = SW_SYSCONFDIR "/sipswitch.cfg"};
    bool check = false, dump = false, markdown = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:M:tvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o.cfg_path = optarg; break;
        case 'M': o.module_path = optarg; break;
        case 't': check = true; break;
        case OPT_DUMP: dump = true; break;
        case OPT_FORMAT:
            if (strcmp(optarg, "md") == 0 || strcmp(optarg, "markdown") == 0) {
                markdown = true;
            } else if (strcmp(optarg, "text") != 0) {
                fprintf(stderr, "sipswitch: unknown format '%s' (md or text)\n", optarg);
                return 2;
            }
            break;
        case 'v':
            printf("sipswitch %s (module ABI %d.%d)\nallocator: %s\n", SIPSWITCH_VERSION, SW_ABI_MAJOR, SW_ABI_MINOR,
                   sw_allocator_name());
            return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sipswitch: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (check && dump) {
        fprintf(stderr, "sipswitch: --check and --dump-params do not go together\n");
        return 2;
    }
    if (check)
        return sw_daemon_check(&o);
    if (dump)
        return sw_daemon_dump_params(&o, markdown);
    return sw_daemon_run(&o);
}
