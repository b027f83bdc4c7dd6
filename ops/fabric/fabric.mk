# fabric.mk: targets for the native Fabric network; the root Makefile includes it,
# and `make -f ops/fabric/fabric.mk fabric-test` works on its own.
#   fabric-build  build the pinned Fabric binaries into ops/fabric/bin (only if missing)
#   fabric-up     start the network (FABRIC_BANKS, FABRIC_PORT_BLOCK or FABRIC_BASE_PORT, FABRIC_CHANNEL) and
#                 deploy the chaincode; writes ops/fabric/.network/network.json
#   fabric-down   stop it; `make fabric-down CLEAN=1` also removes its state
#   fabric-test   chaincode unit tests + real-network tests on a network of their own
FABRIC_MK_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))

.PHONY: fabric-build fabric-up fabric-down fabric-test

fabric-build:
	$(FABRIC_MK_DIR)/build.sh

fabric-up:
	$(FABRIC_MK_DIR)/up.sh

fabric-down:
	$(FABRIC_MK_DIR)/down.sh $(if $(CLEAN),--clean)

fabric-test:
	$(FABRIC_MK_DIR)/test.sh
