// Data-parallel training on MPI: the optional tapegrad::distributed target (found when CMake's
// find_package(MPI) succeeds). The core library never needs MPI.
#pragma once

#include "tapegrad/distributed/average_op.hpp"
#include "tapegrad/distributed/buckets.hpp"
#include "tapegrad/distributed/collectives.hpp"
#include "tapegrad/distributed/communicator.hpp"
#include "tapegrad/distributed/gradient_tape.hpp"
#include "tapegrad/distributed/optimizer.hpp"
#include "tapegrad/distributed/sampler.hpp"
