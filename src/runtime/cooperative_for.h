// A parallel loop for a thread that must not wait behind other work on a shared pool (the analyze
// writer shares the pipeline's pool with tokenisation and CPU engines): the caller works through
// the tasks itself, pool workers that get to their turn help, and the caller waits only for tasks
// already started, never for helpers still queued.
#pragma once

#include <cstddef>
#include <functional>

namespace justnews {

class ThreadPool;

// Runs task(task_idx) for every task_idx in [0, num_tasks), each once, and returns when all are
// done. Without a pool (or with one task) everything runs on the calling thread, in order.
void cooperative_for(ThreadPool* pool, size_t num_tasks,
                     const std::function<void(size_t task_idx)>& task);

}  // namespace justnews
