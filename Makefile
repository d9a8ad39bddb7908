# FedMed: two commands do everything on a fresh machine (Python 3.11):
#   make book   install, execute every notebook, build the site, serve it on http://127.0.0.1:8000
#   make test   install, then run everything CI runs (.ci/run calls this)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HTML := _build/site/_build/html
MATHJAX_VERSION := 3.2.2
PORT ?= 8000
# prints the time a step starts, so that CI's log shows where the minutes go
STAMP = @echo "--- $$(date +%T) $@"
export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0
export PYTHONHASHSEED := 0
export MPLBACKEND := module://matplotlib_inline.backend_inline
# CI and offline machines read the data from here (../shared/data beside the clone).
export FEDMED_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: book test lab install mathjax browser execute build build-strict build-zh build-zh-strict pdf pdf-books pdf-test portable-and-books serve bench lint unit nbval nbval-portable browser-test clean

book: install mathjax execute build pdf serve

test: install mathjax browser lint unit nbval portable-and-books

# make test's time budget (25 min on 2 cores). The first execution of the notebooks,
# whose times make the timing table, runs alone. Then three lines of work share the two
# cores: the second, other-machine execution (nbval-portable); the PDF books, printed
# and checked from their own staged copies (pdf-books); and the strict builds of both
# sites followed by the browser test (whose link checks leave the links to the PDF
# books for later: FEDMED_PDF_LATER=1). The PDF books are the shortest line, so they run
# at a lower priority (nice) and take the CPU that the other two leave.
# Last, the PDF books are copied beside the site and the test that both landing pages
# link them runs (marked needs_pdf). Every part must pass. Each step prints the time
# it starts (--- hh:mm:ss), so that a slow step can be found in CI's log.
portable-and-books: install mathjax browser
	$(STAMP)
	@mkdir -p _build
	@$(MAKE) --no-print-directory nbval-portable > _build/nbval-portable.log 2>&1 & portable=$$!; \
	  nice -n 10 $(MAKE) --no-print-directory pdf-books pdf-test > _build/pdf.log 2>&1 & pdfs=$$!; \
	  status=0; $(MAKE) --no-print-directory build-strict || status=1; \
	  if [ $$status = 0 ]; then \
	    echo "--- $$(date +%T) browser-test"; \
	    FEDMED_PDF_LATER=1 $(MAKE) --no-print-directory browser-test BROWSER_TESTS='-m "not needs_pdf"' || status=1; \
	  fi; \
	  echo "--- $$(date +%T) waiting for the PDF books"; \
	  pdf=0; wait $$pdfs || pdf=1; \
	  echo "--- make pdf-books pdf-test (run beside the builds; log _build/pdf.log):"; \
	  tail -n 20 _build/pdf.log; \
	  if [ $$pdf = 0 -a $$status = 0 ]; then \
	    cp _build/pdf/fedmed-en.pdf _build/pdf/fedmed-zh.pdf $(HTML)/; \
	    $(MAKE) --no-print-directory browser-test BROWSER_TESTS='-m needs_pdf' || status=1; \
	  else status=1; fi; \
	  echo "--- $$(date +%T) waiting for nbval-portable"; \
	  port=0; wait $$portable || port=1; \
	  echo "--- make nbval-portable (run beside the builds; log _build/nbval-portable.log):"; \
	  tail -n 25 _build/nbval-portable.log; \
	  echo "--- $$(date +%T) done"; \
	  test $$status = 0 -a $$port = 0

## --- installation --------------------------------------------------------------
install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (FedMed)" >/dev/null
	touch $@

# MathJax is served by the site itself (no CDN): fetched once from the npm registry.
mathjax: book/_vendor/mathjax/tex-chtml.js

book/_vendor/mathjax/tex-chtml.js:
	rm -rf _build/mathjax && mkdir -p _build/mathjax book/_vendor
	cd _build/mathjax && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null && tar xzf mathjax-$(MATHJAX_VERSION).tgz
	rm -rf book/_vendor/mathjax && cp -r _build/mathjax/package/es5 book/_vendor/mathjax
	test -f $@

# Debian's Chromium for the browser test and the PDFs (Playwright's own browser download
# fails offline), and Debian's Noto CJK fonts for the Chinese edition.
browser:
	@command -v chromium >/dev/null && fc-list :lang=zh | grep -q . || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }
	@chromium --version

## --- the book -------------------------------------------------------------------
execute: install
	$(BIN)/python tools/run_notebooks.py

build: install mathjax
	$(BIN)/python tools/stage_book.py
	$(BIN)/jupyter-book build _build/src --path-output _build/site --builder html
	$(MAKE) --no-print-directory build-zh
	@echo "The HTML files are in $(HTML)/ (open $(HTML)/index.html; Chinese: $(HTML)/zh/)"

build-strict: install mathjax
	$(STAMP)
	$(BIN)/python tools/stage_book.py
	$(BIN)/jupyter-book build _build/src --path-output _build/site --builder html -W -n --keep-going
	$(MAKE) --no-print-directory build-zh-strict
	@echo "The HTML files are in $(HTML)/ (Chinese: $(HTML)/zh/)"

# The Chinese edition (book/zh/, tools/stage_zh.py): built on its own with the English
# chapters' executed outputs and published under zh/ of the English site.
HTML_ZH := _build/site_zh/_build/html

build-zh: install mathjax
	$(BIN)/python tools/stage_zh.py
	$(BIN)/jupyter-book build _build/src_zh --path-output _build/site_zh --builder html
	rm -rf $(HTML)/zh && mkdir -p $(HTML) && cp -r $(HTML_ZH) $(HTML)/zh

build-zh-strict: install mathjax
	$(STAMP)
	$(BIN)/python tools/stage_zh.py
	$(BIN)/jupyter-book build _build/src_zh --path-output _build/site_zh --builder html -W -n --keep-going
	rm -rf $(HTML)/zh && mkdir -p $(HTML) && cp -r $(HTML_ZH) $(HTML)/zh

# The PDF books (tools/build_pdf.py): the single-page build printed by Debian's Chromium,
# in English and in Chinese, copied beside the site's index.html (fedmed-en.pdf,
# fedmed-zh.pdf). Needs the executed notebooks and the staged Chinese book (build-zh).
pdf: pdf-books
	mkdir -p $(HTML) && cp _build/pdf/fedmed-en.pdf _build/pdf/fedmed-zh.pdf $(HTML)/

# The two PDF books alone, from their own staged sources (_build/pdf_src, _build/pdf_src_zh),
# so that they can be printed while the sites are built.
pdf-books: install mathjax browser
	$(STAMP)
	$(BIN)/python tools/stage_zh.py --out _build/pdf_src_zh
	$(BIN)/python tools/build_pdf.py --lang en --lang zh --src _build/pdf_src_zh

pdf-test: install
	$(BIN)/pytest tests/test_pdf.py -q

serve:
	@echo "Serving the book at http://127.0.0.1:$(PORT) (HTML files in $(HTML)/); Ctrl-C stops."
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory $(HTML)

lab: install
	$(BIN)/jupyter lab notebooks/

## --- the checks -----------------------------------------------------------------
lint: install
	$(STAMP)
	$(BIN)/ruff check fedmed_lib tests tools benchmarks
	$(BIN)/mypy fedmed_lib

# Two workers (pytest-xdist): the live Flower federations (xdist_group live_flower) run one
# after another on one worker, mostly waiting for SuperNodes that poll every 3 s, while
# the other worker runs the rest.
unit: install
	$(STAMP)
	$(BIN)/pytest tests --ignore=tests/browser --ignore=tests/test_pdf.py -q -n 2 --dist loadgroup

# Executes every notebook once, checks asserts and pinned outputs, keeps the executed
# copies for the build and prints the timing table (tools/nbval_capture.py).
nbval: install
	$(STAMP)
	PYTHONPATH=tools $(BIN)/pytest -p nbval_capture --nbval-lax -p no:cacheprovider -q \
	  --nbval-cell-timeout=300 notebooks/

# Pinned outputs are facts that hold on any x86-64 CPU. The second execution runs every
# notebook again as another machine would (an AVX2-only CPU: numpy's AVX-512 kernels off,
# OpenBLAS's Haswell kernels; TensorFlow with oneDNN on and limited to AVX2; one thread;
# another hash seed) and requires every pinned cell to print the same text.
PORTABLE_ENV := TF_ENABLE_ONEDNN_OPTS=1 ONEDNN_MAX_CPU_ISA=AVX2 \
  TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=1 \
  OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Haswell \
  NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR" PYTHONHASHSEED=12345

nbval-portable: install
	$(STAMP)
	$(PORTABLE_ENV) $(BIN)/python -c "import numpy; numpy.show_runtime()" | grep -A2 simd_extensions
	$(PORTABLE_ENV) $(BIN)/pytest --nbval-lax -p no:cacheprovider -q --nbval-cell-timeout=300 notebooks/

BROWSER_TESTS ?=
browser-test: install browser
	$(BIN)/pytest tests/browser -q $(BROWSER_TESTS)

bench: install
	$(BIN)/python benchmarks/bench_scaling.py

clean:
	rm -rf _build
