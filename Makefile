# pvic: one non-recursive Makefile. Sources are found by folder, so adding a file
# needs no edit here; see docs/building.md.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
SBINDIR     ?= $(PREFIX)/sbin
MANDIR      ?= $(PREFIX)/share/man
DATADIR     ?= $(PREFIX)/share
SYSCONFDIR  ?= /etc
DESTDIR     ?=
TMPFILESDIR ?= $(shell pkg-config --variable=tmpfilesdir systemd 2>/dev/null || echo /usr/lib/tmpfiles.d)
UNITDIR     ?= $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)

VERSION_MAJOR := 0
VERSION_MINOR := 1
VERSION_MICRO := 0
# BuildVersion must be a plain integer (XAPI drops the whole version otherwise).
VERSION_BUILD := $(shell git rev-list --count HEAD 2>/dev/null || echo 0)

CC          ?= cc
SANITIZE    ?=
ifeq ($(SANITIZE),1)
BUILD       ?= build-san
SAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD       ?= build
SAN_FLAGS   :=
endif

PKGS        := libsystemd json-c uuid
PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS  = $(shell pkg-config --libs check 2>/dev/null)

WARN        := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes -Wno-unused-parameter
CPPFLAGS    += -Iinclude -D_GNU_SOURCE \
               -DPVIC_VERSION_MAJOR=$(VERSION_MAJOR) -DPVIC_VERSION_MINOR=$(VERSION_MINOR) \
               -DPVIC_VERSION_MICRO=$(VERSION_MICRO) -DPVIC_VERSION_BUILD=$(VERSION_BUILD) \
               -DPVIC_SYSCONFDIR=\"$(SYSCONFDIR)\"
CFLAGS      ?= -O2 -g
CFLAGS      += -std=c17 $(WARN) $(SAN_FLAGS) -fPIE $(PKG_CFLAGS)
LDFLAGS     += $(SAN_FLAGS) -pie

# Library: every .c under the layer folders, except programs' main files.
LIB_DIRS    := daemon transport transport/xenstore transport/vmbus kvp shutdown timesync freeze
LIB_SRC     := $(filter-out daemon/main.c,$(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c)))
LIB_OBJ     := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB         := $(BUILD)/libpvic.a

pvicd_SRC        := daemon/main.c
pvicctl_SRC      := $(wildcard tools/pvicctl/*.c)
pvic-host_SRC    := $(wildcard tools/pvic-host/*.c)
pvic-hostsim_SRC := $(wildcard tools/hostsim/*.c)
# A program is built once its folder has sources.
PROGS       := pvicd $(if $(pvicctl_SRC),pvicctl) $(if $(pvic-host_SRC),pvic-host) \
               $(if $(pvic-hostsim_SRC),pvic-hostsim)
PROG_BINS   := $(addprefix $(BUILD)/,$(PROGS))

UNIT_SRC    := $(wildcard tests/unit/test-*.c)
UNIT_BINS   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_SRC  := $(wildcard tests/helpers/*.c)
HELPER_BINS := $(HELPER_SRC:tests/helpers/%.c=$(BUILD)/tests/helpers/%)
HELPER_SO_SRC := $(wildcard tests/helpers/*.so.c)
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_BINS   := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
FUZZ_SECONDS ?= 30

ALL_OBJ     := $(LIB_OBJ) $(foreach p,$(PROGS),$($(p)_SRC:%.c=$(BUILD)/obj/%.o))
DEPFLAGS     = -MMD -MP

.PHONY: all deps check check-unit demo install clean fuzz fuzz-long bench check-e2e
all: $(PROG_BINS)

deps:
	@scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

.SECONDEXPANSION:
$(PROG_BINS): $(BUILD)/%: $$(addprefix $(BUILD)/obj/,$$($$*_SRC:.c=.o)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(CHECK_LIBS) $(PKG_LIBS) -lm

$(BUILD)/tests/helpers/%: tests/helpers/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(PKG_LIBS) -lm

# LD_PRELOAD shims are built without sanitizers: they are loaded into peers' processes.
$(BUILD)/tests/helpers/%.so: tests/helpers/%.so.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=c17 $(WARN) -O2 -fPIC -shared -o $@ $< -ldl

tests-build: $(PROG_BINS) $(UNIT_BINS) $(filter-out %.so,$(HELPER_BINS)) $(HELPER_SO_SRC:tests/helpers/%.so.c=$(BUILD)/tests/helpers/%.so)

check: deps
	$(MAKE) tests-build
	BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run.sh

check-unit: tests-build
	BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run.sh unit

demo: deps
	$(MAKE) all
	BUILD=$(BUILD) tools/demo.sh

# Fuzzers: clang's libFuzzer with ASan+UBSan, one binary per target, corpora in tests/fuzz/corpus/.
# The library is instrumented once (fuzzer-no-link) and each target links against it.
FUZZ_SAN    := address,undefined
FUZZ_CFLAGS := -std=c17 $(WARN) -g -O1 -Iinclude -D_GNU_SOURCE $(PKG_CFLAGS) \
               $(filter-out -DPVIC_SYSCONFDIR=%,$(CPPFLAGS))
FUZZ_LIB_SRC := $(LIB_SRC) $(filter-out tools/hostsim/main.c,$(pvic-hostsim_SRC))
FUZZ_OBJ    := $(FUZZ_LIB_SRC:%.c=build-fuzz/obj/%.o)
build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) -c $< -o $@
build-fuzz/libfuzz.a: $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $^
build-fuzz/%: tests/fuzz/%.c build-fuzz/libfuzz.a
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,$(FUZZ_SAN) -o $@ $< build-fuzz/libfuzz.a $(PKG_LIBS) -lm

fuzz: deps $(FUZZ_BINS)
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_BINS)

fuzz-long: deps $(FUZZ_BINS)
	FUZZ_SECONDS=600 tests/fuzz/run.sh $(FUZZ_BINS)

bench: deps
	$(MAKE) all tests-build
	BUILD=$(BUILD) bench/run.sh

check-e2e:
	scripts/deps.sh e2e
	$(MAKE) all
	tests/e2e/xen/run.sh

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(SYSCONFDIR)/pvic/pvicd.conf.d $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(BUILD)/pvicd $(DESTDIR)$(SBINDIR)/pvicd
	for p in pvicctl pvic-host; do [ ! -e $(BUILD)/$$p ] || install -m 0755 $(BUILD)/$$p $(DESTDIR)$(BINDIR)/; done
	sed 's|@SBINDIR@|$(SBINDIR)|g' systemd/pvicd.service.in > $(DESTDIR)$(UNITDIR)/pvicd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/pvicd.service
	install -d $(DESTDIR)$(TMPFILESDIR)
	install -m 0644 systemd/pvic-tmpfiles.conf $(DESTDIR)$(TMPFILESDIR)/pvic.conf
	[ -e $(DESTDIR)$(SYSCONFDIR)/pvic/pvicd.conf ] || install -m 0644 systemd/pvicd.conf $(DESTDIR)$(SYSCONFDIR)/pvic/pvicd.conf
	install -d $(DESTDIR)$(DATADIR)/bash-completion/completions $(DESTDIR)$(DATADIR)/dbus-1/system.d
	install -m 0644 tools/completion/pvicctl.bash $(DESTDIR)$(DATADIR)/bash-completion/completions/pvicctl
	install -m 0644 tools/completion/pvic-host.bash $(DESTDIR)$(DATADIR)/bash-completion/completions/pvic-host
	install -m 0644 systemd/io.pvic.Agent1.conf $(DESTDIR)$(DATADIR)/dbus-1/system.d/io.pvic.Agent1.conf
	# Opt-in pieces an administrator copies into place: VMBus ICs to uio at boot, chrony feeding.
	install -d $(DESTDIR)$(DATADIR)/pvic
	install -m 0644 systemd/70-pvic-vmbus-uio.rules systemd/chrony-pvic.conf $(DESTDIR)$(DATADIR)/pvic/
	for m in docs/*.8; do [ -e "$$m" ] && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man8/ || true; done
	for m in docs/*.1; do [ -e "$$m" ] && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man1/ || true; done

clean:
	rm -rf build build-san build-fuzz

-include $(ALL_OBJ:.o=.d)
