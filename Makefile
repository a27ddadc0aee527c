# RGBA render farm — one Makefile for the whole tree.
#
# Sources are discovered by folder, so adding a module never means editing this file:
#   proto/*.c                    -> build/libproto.a    (messages, codec, shot-list and artifact formats)
#   sql/*.c                      -> build/libstore.a    (migrations embedded, store API)
#   coordinator/**/*.c but main  -> build/libcoord.a    (farmd: loop, scheduler, assembly with libav*)
#   worker/**/*.c but main       -> build/libworker.a   (worker loop, model runtime)
#   kernels/cpu/*.c              -> build/libkcpu.a     (reference CPU ops, OpenBLAS GEMM)
#   kernels/cuda/*.cu            -> build/libkcuda.a    (only when nvcc is found; defines HAVE_CUDA)
#   ops/*.c but main             -> build/libops.a      (farm CLI subcommands)
#   {coordinator,worker,ops}/main.c -> bin/farmd, bin/farm-worker, bin/farm
#   tests/unit/test_*.c          -> build/tests/test_*  (each exits non-zero on failure)
#   tests/bench/bench_*.c        -> build/bench/bench_* (benchmarks, never run by `make test`)
#
# Targets: all (default), deps, test, demo, bench, asan, clean.

SHELL      := /bin/bash
CC         ?= cc
NVCC       ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
BUILD      := build
BIN        := bin

DEB_PKGS   := build-essential pkg-config libzmq3-dev libsqlite3-dev libavformat-dev libavcodec-dev \
              libavutil-dev libswscale-dev libopenblas-dev libsentencepiece-dev ffmpeg sqlite3

OPT        ?= -O2
CFLAGS     += -std=gnu11 $(OPT) -g -Wall -Wextra -Werror -Wno-unused-parameter -MMD -MP \
              -fno-strict-aliasing -pthread -fopenmp -I. -D_GNU_SOURCE
LDLIBS_BASE := -fopenmp -lpthread -lm -lstdc++
CXXFLAGS   += -std=gnu++17 $(OPT) -g -Wall -Wextra -Werror -Wno-unused-parameter -MMD -MP -pthread -I.

PKGS_ZMQ   := libzmq
PKGS_AV    := libavformat libavcodec libavutil libswscale
pc_cflags   = $(shell pkg-config --cflags $(1) 2>/dev/null)
pc_libs     = $(shell pkg-config --libs $(1) 2>/dev/null)

CFLAGS     += $(call pc_cflags,$(PKGS_ZMQ) sqlite3 $(PKGS_AV)) -I/usr/include/x86_64-linux-gnu/openblas-pthread
LIB_ZMQ    := $(call pc_libs,$(PKGS_ZMQ))
LIB_SQL    := $(call pc_libs,sqlite3)
LIB_AV     := $(call pc_libs,$(PKGS_AV))
LIB_BLAS   := -lopenblas
LIB_SPM    := -lsentencepiece

# ---- CUDA (compiled whenever nvcc exists; used at run time only when a GPU is visible) ----
ifneq ($(NVCC),)
  CUDA_HOME  := $(abspath $(dir $(NVCC))/..)
  CUDA_ARCH  ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90a,code=sm_90a
  NVCCFLAGS  := -O3 -std=c++17 $(CUDA_ARCH) -I. -I$(CUDA_HOME)/include -Xcompiler -Wall,-fPIC -MMD -MP
  CFLAGS     += -DHAVE_CUDA -I$(CUDA_HOME)/include
  LIB_CUDA   := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart -lcublasLt -lcublas -lnccl -lstdc++
  CU_SRC     := $(wildcard kernels/cuda/*.cu)
endif

# ---- sources ----
find_c      = $(shell find $(1) -name '*.c' ! -path '*/main.c' 2>/dev/null | sort)
PROTO_SRC  := $(wildcard proto/*.c)
STORE_SRC  := $(wildcard sql/*.c)
COORD_SRC  := $(call find_c,coordinator)
WORKER_SRC := $(call find_c,worker)
WORKER_CC  := $(shell find worker -name '*.cc' 2>/dev/null | sort)   # C++ shims (libsentencepiece)
KCPU_SRC   := $(wildcard kernels/cpu/*.c)
OPS_SRC    := $(call find_c,ops)
TEST_SRC   := $(wildcard tests/unit/test_*.c)
BENCH_SRC  := $(wildcard tests/bench/bench_*.c)
SQL_MIG    := $(sort $(wildcard sql/[0-9]*.sql))

obj         = $(patsubst %.c,$(BUILD)/%.o,$(1))
LIBPROTO   := $(BUILD)/libproto.a
LIBSTORE   := $(BUILD)/libstore.a
LIBCOORD   := $(BUILD)/libcoord.a
LIBWORKER  := $(BUILD)/libworker.a
LIBKCPU    := $(BUILD)/libkcpu.a
LIBKCUDA   := $(if $(CU_SRC),$(BUILD)/libkcuda.a)
LIBOPS     := $(BUILD)/libops.a

LINK_FARMD  := $(LIBCOORD) $(LIBSTORE) $(LIBPROTO) $(LIB_ZMQ) $(LIB_SQL) $(LIB_AV) $(LDLIBS_BASE)
LINK_WORKER := $(LIBWORKER) $(LIBKCUDA) $(LIBKCPU) $(LIBPROTO) $(LIB_ZMQ) $(LIB_BLAS) $(LIB_SPM) $(LIB_CUDA) $(LDLIBS_BASE)
LINK_FARM   := $(LIBOPS) $(LIBPROTO) $(LIB_ZMQ) $(LDLIBS_BASE)
LINK_ALL    := $(LIBOPS) $(LIBCOORD) $(LIBWORKER) $(LIBSTORE) $(LIBKCUDA) $(LIBKCPU) $(LIBPROTO) \
               $(LIB_ZMQ) $(LIB_SQL) $(LIB_AV) $(LIB_BLAS) $(LIB_SPM) $(LIB_CUDA) $(LDLIBS_BASE)

TEST_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRC))
BENCH_BIN  := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
PROGS      := $(BIN)/farmd $(BIN)/farm-worker $(BIN)/farm

.PHONY: all deps test demo demo-model bench asan clean tests-build toolchain gpu-pack
all: toolchain $(PROGS)

toolchain:
	@echo "toolchain: cc=$$($(CC) -dumpfullversion 2>/dev/null) nvcc=$(if $(NVCC),$(NVCC),none) \
	zmq=$$(pkg-config --modversion libzmq 2>/dev/null || echo MISSING) \
	sqlite=$$(pkg-config --modversion sqlite3 2>/dev/null || echo MISSING) \
	libavcodec=$$(pkg-config --modversion libavcodec 2>/dev/null || echo MISSING)"

# Install missing Debian packages (non-interactive, idempotent, fast when all are present).
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all present"; fi

# ---- objects ----
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC  $<"; $(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.cc.o: %.cc
	@mkdir -p $(dir $@)
	@echo "  CXX $<"; $(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	@echo "  NVCC $<"; $(NVCC) $(NVCCFLAGS) -c $< -o $@

# migrations are embedded into the store as a generated C table
$(BUILD)/gen/migrations.c: $(SQL_MIG) sql/embed.sh
	@mkdir -p $(dir $@)
	bash sql/embed.sh $(SQL_MIG) > $@
$(BUILD)/gen/migrations.o: $(BUILD)/gen/migrations.c
	@echo "  CC  $<"; $(CC) $(CFLAGS) -c $< -o $@

$(LIBPROTO):  $(call obj,$(PROTO_SRC));  @mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
$(LIBSTORE):  $(call obj,$(STORE_SRC)) $(if $(SQL_MIG),$(BUILD)/gen/migrations.o); @mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
$(LIBCOORD):  $(call obj,$(COORD_SRC));  @mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
$(LIBWORKER): $(call obj,$(WORKER_SRC)) $(patsubst %.cc,$(BUILD)/%.cc.o,$(WORKER_CC)); @mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
$(LIBKCPU):   $(call obj,$(KCPU_SRC));   @mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
$(LIBOPS):    $(call obj,$(OPS_SRC));    @mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
$(BUILD)/libkcuda.a: $(patsubst %.cu,$(BUILD)/%.cu.o,$(CU_SRC)); @mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^

# ---- programs ----
$(BIN)/farmd: $(BUILD)/coordinator/main.o $(LIBCOORD) $(LIBSTORE) $(LIBPROTO)
	@mkdir -p $(BIN); $(CC) $(CFLAGS) -o $@ $< $(LINK_FARMD)
$(BIN)/farm-worker: $(BUILD)/worker/main.o $(LIBWORKER) $(LIBKCUDA) $(LIBKCPU) $(LIBPROTO)
	@mkdir -p $(BIN); $(CC) $(CFLAGS) -o $@ $< $(LINK_WORKER)
$(BIN)/farm: $(BUILD)/ops/main.o $(LIBOPS) $(LIBPROTO)
	@mkdir -p $(BIN); $(CC) $(CFLAGS) -o $@ $< $(LINK_FARM)

$(BUILD)/tests/%: tests/unit/%.c $(LIBOPS) $(LIBCOORD) $(LIBWORKER) $(LIBSTORE) $(LIBKCUDA) $(LIBKCPU) $(LIBPROTO)
	@mkdir -p $(dir $@); $(CC) $(CFLAGS) -o $@ $< $(LINK_ALL)
$(BUILD)/bench/%: tests/bench/%.c $(LIBOPS) $(LIBCOORD) $(LIBWORKER) $(LIBSTORE) $(LIBKCUDA) $(LIBKCPU) $(LIBPROTO)
	@mkdir -p $(dir $@); $(CC) $(CFLAGS) -o $@ $< $(LINK_ALL)

tests-build: all $(TEST_BIN)

# `make gpu-pack`: the GPU test and benchmark programs linked so that they run on a bare GPU machine
# (only the libraries they use, copied beside them; CUDA libraries from that machine's toolkit), packed
# as $(BUILD)/gpu-pack.tar.xz; ops/gpu-run.sh unpacks and runs them there. See README "GPU checks".
GPU_PROGS  ?= test_cuda_ops test_cuda_plan test_dit_cuda test_t5_cuda test_vae_cuda test_pipeline_cuda \
              bench_cuda_attn bench_cuda_step bench_cuda_ops bench_t5 bench_vae bench_dit bench_pipeline
LINK_GPU   := $(LIBOPS) $(LIBCOORD) $(LIBWORKER) $(LIBSTORE) $(LIBKCUDA) $(LIBKCPU) $(LIBPROTO) \
              -Wl,--as-needed $(LIB_ZMQ) $(LIB_SQL) $(LIB_AV) $(LIB_BLAS) \
              $(LIB_SPM) $(LIB_CUDA) $(LDLIBS_BASE)
gpu-pack: $(LIBOPS) $(LIBCOORD) $(LIBWORKER) $(LIBSTORE) $(LIBKCUDA) $(LIBKCPU) $(LIBPROTO)
	@mkdir -p $(BUILD)/gpu-pack/lib
	@for p in $(GPU_PROGS); do src=tests/unit/$$p.c; [ -f $$src ] || src=tests/bench/$$p.c; [ -f $$src ] || continue; \
	  echo "  LD  gpu-pack/$$p"; $(CC) $(CFLAGS) -o $(BUILD)/gpu-pack/$$p $$src $(LINK_GPU) || exit 1; \
	  strip --strip-debug $(BUILD)/gpu-pack/$$p; done
	@for p in $(GPU_PROGS); do [ -x $(BUILD)/gpu-pack/$$p ] && ldd $(BUILD)/gpu-pack/$$p; done | awk '/=> \// {print $$1, $$3}' | sort -u | \
	  while read n f; do case $$n in libc.so*|libm.so*|libpthread*|libdl*|librt*|ld-linux*|libcuda.so*|libcudart*|libcublas*|libnccl*) ;; \
	  *) cp -L $$f $(BUILD)/gpu-pack/lib/$$n;; esac; done
	@rm -f $(BUILD)/gpu-pack/*.d; tar -C $(BUILD) -cJf $(BUILD)/gpu-pack.tar.xz gpu-pack
	@du -sh $(BUILD)/gpu-pack $(BUILD)/gpu-pack.tar.xz; ls $(BUILD)/gpu-pack/lib


# `make test`: install what is missing, build, run every test (unit, integration, parity, decode-back).
test: deps
	@$(MAKE) --no-print-directory -j$$(nproc) tests-build
	@bash tests/run.sh

bench: all $(BENCH_BIN)

# `make demo`: install, build, run the embedded default end to end (ops/demo.sh).
demo: deps
	@$(MAKE) --no-print-directory -j$$(nproc) all
	@bash ops/demo.sh

# `make demo-model`: retrain the bundled demo model (ops/models/demo) from scratch with the
# reference environment (tests/reference/setup.sh makes it; never needed by CI or `make demo`).
demo-model:
	bash tests/reference/setup.sh
	bash ops/train/train_all.sh

asan:
	$(MAKE) OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer" LDFLAGS=-fsanitize=address,undefined BUILD=build-asan BIN=bin-asan tests-build

clean:
	rm -rf $(BUILD) build-asan $(BIN) bin-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
