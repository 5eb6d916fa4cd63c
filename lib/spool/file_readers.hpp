// The three readers behind read_job_file, one per format of SPEC §3 (internal to lib/spool).
#pragma once

#include "spool/job_reader.hpp"

namespace msgflash::spool {

read_report read_batch_file(byte_source& source, const reader_options& options, job_sink& sink);
read_report read_line_file(byte_source& source, const reader_options& options, job_sink& sink);
read_report read_campaign_file(byte_source& source, const reader_options& options, job_sink& sink);

}  // namespace msgflash::spool
