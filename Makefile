# The two commands of the README: `make book` renders the book, `make test` runs every test.
# Each installs what it needs first (quick when it is already installed).
PYTHON ?= python3
BOOKFLAGS ?=

.PHONY: install book test sync execute clean

install:
	$(PYTHON) -m pip install -q -r requirements.txt

book: install
	jupyter-book build . $(BOOKFLAGS)

# Unit tests (among them: every notebook matches its text source), then nbval over every
# notebook of the book, all at the smoke profile.
test: install
	LESSONS_PROFILE=smoke $(PYTHON) -m pytest tests book --nbval-lax -p no:cacheprovider

# Write the chapters' text sources (book/src/*.md) into their notebooks, keeping stored outputs.
sync:
	$(PYTHON) tools/notebooks.py sync

# Execute notebooks in place at a profile (default standard) and store their outputs.
execute: sync
	$(PYTHON) tools/notebooks.py execute --profile $(or $(PROFILE),standard) $(NOTEBOOKS)

clean:
	rm -rf _build book/_generated
