# The two commands of the README: `make book` renders the book, `make test` runs every test.
# Each installs what it needs first (quick when it is already installed).
PYTHON ?= python3
BOOKFLAGS ?=

.PHONY: install book test execute clean

install:
	$(PYTHON) -m pip install -q -r requirements.txt

book: install
	jupyter-book build . $(BOOKFLAGS)

# Unit tests, then nbval over every notebook of the book, all at the smoke profile.
test: install
	LESSONS_PROFILE=smoke $(PYTHON) -m pytest tests book --nbval-lax -p no:cacheprovider

# Re-execute the notebooks in place at a profile (default standard) and store their outputs.
execute: install
	$(PYTHON) -m lessons_lib.execute --profile $(or $(PROFILE),standard) $(NOTEBOOKS)

clean:
	rm -rf _build
