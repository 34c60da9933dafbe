# Entry points; each does its own set-up (venv, Docker engine, images) on a fresh machine.
.PHONY: sandbox sandbox-down test test-unit test-roles test-integration test-sandbox test-e2e test-pulsar images lint

sandbox:            ## bring up the local three-host sandbox and print its health
	bash tools/sandbox.sh up

sandbox-down:       ## remove the sandbox (containers, volumes, network); keeps the image cache
	bash tools/sandbox.sh down

test:               ## the whole test suite, as CI runs it
	bash tools/test.sh all

test-unit:
	bash tools/test.sh unit

test-roles:         ## the roles and playbooks run by ansible-playbook on this machine (no hosts)
	bash tools/test.sh roles

test-integration:
	bash tools/test.sh integration

test-sandbox:
	bash tools/test.sh sandbox

test-e2e:
	bash tools/test.sh e2e

test-pulsar:        ## the Molecule scenario of a cluster on Pulsar alone (`make test` runs it too)
	bash tools/test.sh pulsar

images:             ## build or reuse the offline images (cache: .cache/images)
	bash tools/engine.sh && bash tools/venv.sh && .venv/bin/python tools/images.py build

lint:
	bash tools/test.sh lint
