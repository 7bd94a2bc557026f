# The libFuzzer build, run by `make fuzz` (Makefile.am) as
#   $(MAKE) -f Makefile -f $(srcdir)/tests/fuzz/fuzz.mk fuzz-targets
# so that every variable of the generated Makefile is visible here: the core's
# source list (libswcore_la_SOURCES), its preprocessor flags and libraries are
# taken from there, never copied. This file is GNU make (pattern rules,
# $(filter)); automake never reads it.
#
# The core is compiled a second time, with clang, coverage instrumentation and
# ASan+UBSan, into tests/fuzz/obj/ and archived in tests/fuzz/libswcore-fuzz.a;
# each target links the archive, so it gets only the objects it needs (the real
# parsing code, never a copy). Nothing here is built by `make all`.

FUZZ_DIR = tests/fuzz
FUZZ_OBJDIR = $(FUZZ_DIR)/obj
FUZZ_LIB = $(FUZZ_DIR)/libswcore-fuzz.a

# module code the targets exercise besides the core
FUZZ_MODULE_SOURCES = modules/cdr/cdr_record.c modules/gw_switch/gw_switch_params.c
# registrar: the parsers of what devices send (fuzz_digest)
FUZZ_MODULE_SOURCES += modules/registrar/digest_header.c modules/registrar/contact_list.c \
	modules/registrar/sip_uri.c modules/registrar/nat_detect.c modules/registrar/ip_match.c

FUZZ_LIB_SOURCES = $(filter %.c,$(libswcore_la_SOURCES)) $(FUZZ_MODULE_SOURCES)
FUZZ_LIB_OBJECTS = $(patsubst %.c,$(FUZZ_OBJDIR)/%.o,$(FUZZ_LIB_SOURCES))
FUZZ_TARGET_NAMES = $(patsubst tests/fuzz/%.c,%,$(FUZZ_HARNESSES))
FUZZ_TARGET_OBJECTS = $(patsubst %.c,$(FUZZ_OBJDIR)/%.o,$(FUZZ_HARNESSES))
FUZZ_BINARIES = $(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGET_NAMES))

FUZZ_ALL_CPPFLAGS = $(DEFS) $(DEFAULT_INCLUDES) $(libswcore_la_CPPFLAGS) \
	-I$(srcdir)/modules/cdr -I$(srcdir)/modules/gw_switch -I$(srcdir)/modules/registrar -I$(srcdir)/tests/fuzz
FUZZ_LINK_LIBS = $(libswcore_la_LIBADD) $(LIBS)

# The core's own files are compiled with the fuzzer's coverage hooks but
# without libFuzzer's main; warnings there are the owners' business (the
# regular build is -Werror), so only the harnesses get $(SW_CFLAGS).
FUZZ_LIB_CFLAGS = $(filter-out -fsanitize=fuzzer%,$(FUZZ_CFLAGS)) -fsanitize=fuzzer-no-link
FUZZ_HARNESS_CFLAGS = $(FUZZ_CFLAGS) $(SW_CFLAGS)

.PHONY: fuzz-targets fuzz-check-compiler
fuzz-targets: $(FUZZ_BINARIES)
	@echo "fuzz targets in $(FUZZ_DIR)/: $(FUZZ_TARGET_NAMES)"
	@echo "run them with: $(srcdir)/tests/fuzz/run.sh   (FUZZ_SECONDS=60 per target by default)"

# A clear message instead of a link error when clang or its libFuzzer
# runtime is missing (Debian: clang libclang-rt-dev).
$(FUZZ_DIR)/.compiler-ok:
	@$(MKDIR_P) $(FUZZ_DIR)
	@command -v $(firstword $(CC_FUZZ)) >/dev/null 2>&1 || { \
	  echo "make fuzz: '$(CC_FUZZ)' not found: install the Debian packages clang and libclang-rt-dev" >&2; exit 1; }
	@printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' > $(FUZZ_DIR)/.probe.c
	@$(CC_FUZZ) $(FUZZ_CFLAGS) -o $(FUZZ_DIR)/.probe $(FUZZ_DIR)/.probe.c >/dev/null 2>&1 || { \
	  rm -f $(FUZZ_DIR)/.probe $(FUZZ_DIR)/.probe.c; \
	  echo "make fuzz: '$(CC_FUZZ) $(FUZZ_CFLAGS)' cannot link a libFuzzer target: install the Debian package libclang-rt-dev" >&2; exit 1; }
	@rm -f $(FUZZ_DIR)/.probe $(FUZZ_DIR)/.probe.c
	@touch $@

$(FUZZ_OBJDIR)/core/%.o $(FUZZ_OBJDIR)/modules/%.o: | $(FUZZ_DIR)/.compiler-ok
$(FUZZ_OBJDIR)/tests/%.o: | $(FUZZ_DIR)/.compiler-ok

$(FUZZ_OBJDIR)/core/%.o: $(srcdir)/core/%.c
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(CC_FUZZ) $(FUZZ_ALL_CPPFLAGS) $(FUZZ_LIB_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_OBJDIR)/modules/%.o: $(srcdir)/modules/%.c
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(CC_FUZZ) $(FUZZ_ALL_CPPFLAGS) $(FUZZ_LIB_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_OBJDIR)/tests/fuzz/%.o: $(srcdir)/tests/fuzz/%.c
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(CC_FUZZ) $(FUZZ_ALL_CPPFLAGS) $(FUZZ_HARNESS_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_OBJECTS)
	$(AM_V_GEN)rm -f $@ && $(AR) cr $@ $(FUZZ_LIB_OBJECTS) && $(RANLIB) $@

$(FUZZ_BINARIES): $(FUZZ_DIR)/%: $(FUZZ_OBJDIR)/tests/fuzz/%.o $(FUZZ_LIB)
	$(AM_V_CCLD)$(CC_FUZZ) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_LIB) $(FUZZ_LINK_LIBS)

-include $(FUZZ_LIB_OBJECTS:.o=.d) $(FUZZ_TARGET_OBJECTS:.o=.d)
