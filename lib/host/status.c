/* NVMe status codes in words, in the style nvme-cli prints them. */
#include <stdio.h>
#include <string.h>

#include <nvmf/host.h>

struct status_name {
	uint8_t sc;
	const char *str;
};

static const struct status_name generic[] = {
	{0x00, "SUCCESS: The command completed successfully"},
	{0x01, "INVALID_OPCODE: The associated command opcode field is not valid"},
	{0x02, "INVALID_FIELD: A reserved coded value or an unsupported value in a defined field"},
	{0x03, "CMDID_CONFLICT: The command identifier is already in use"},
	{0x04, "DATA_XFER_ERROR: Error while trying to transfer the data or metadata"},
	{0x05, "POWER_LOSS: Command aborted due to power loss notification"},
	{0x06, "INTERNAL: The command was not completed successfully due to an internal error"},
	{0x07, "ABORT_REQ: The command was aborted due to a Command Abort request"},
	{0x08, "ABORT_QUEUE: The command was aborted due to a Delete I/O Submission Queue request"},
	{0x09, "FUSED_FAIL: The command was aborted due to the other command in a fused operation failing"},
	{0x0a, "FUSED_MISSING: The command was aborted due to a Missing Fused Command"},
	{0x0b, "INVALID_NS: The namespace or the format of that namespace is invalid"},
	{0x0c, "CMD_SEQ_ERROR: The command was aborted due to a protocol violation in a multicommand sequence"},
	{0x0d, "SGL_INVALID_LAST: The command includes an invalid SGL Last Segment or SGL Segment descriptor"},
	{0x0e, "SGL_INVALID_COUNT: There is an SGL Last Segment descriptor or an SGL Segment descriptor in a location other than the last descriptor of a segment based on the length indicated"},
	{0x0f, "SGL_INVALID_DATA: This may occur if the length of a Data SGL is too short"},
	{0x10, "SGL_INVALID_METADATA: This may occur if the length of a Metadata SGL is too short"},
	{0x11, "SGL_INVALID_TYPE: The type of an SGL Descriptor is a type that is not supported by the controller"},
	{0x12, "CMB_INVALID_USE: The attempted use of the Controller Memory Buffer is not supported by the controller"},
	{0x13, "PRP_INVALID_OFFSET: The Offset field for a PRP entry is invalid"},
	{0x14, "ATOMIC_WRITE_UNIT_EXCEEDED: The length specified exceeds the atomic write unit size"},
	{0x15, "OPERATION_DENIED: The command was denied due to lack of access rights"},
	{0x16, "SGL_INVALID_OFFSET: The offset specified in a descriptor is invalid"},
	{0x18, "INCONSISTENT_HOST_ID: The NVM subsystem detected the simultaneous use of 64-bit and 128-bit Host Identifier values"},
	{0x19, "KEEP_ALIVE_EXPIRED: The Keep Alive Timer expired"},
	{0x1a, "KEEP_ALIVE_INVALID: The Keep Alive Timeout value specified is invalid"},
	{0x1b, "PREEMPT_ABORT: The command was aborted due to a Reservation Acquire command with the Reservation Acquire Action (RACQA) set to 010b (Preempt and Abort)"},
	{0x1c, "SANITIZE_FAILED: The most recent sanitize operation failed and no recovery actions has been successfully completed"},
	{0x1d, "SANITIZE_IN_PROGRESS: The requested function is prohibited while a sanitize operation is in progress"},
	{0x1e, "SGL_INVALID_GRANULARITY: Address alignment or Length granularity for an SGL Data Block descriptor is invalid"},
	{0x20, "NS_WRITE_PROTECTED: The command is prohibited while the namespace is write protected by the host"},
	{0x21, "CMD_INTERRUPTED: Command processing was interrupted and the controller is unable to successfully complete the command. The host should retry the command"},
	{0x22, "TRANSIENT_TRANSPORT: A transient transport error was detected"},
	{0x80, "LBA_RANGE: The command references an LBA that exceeds the size of the namespace"},
	{0x81, "CAP_EXCEEDED: The execution of the command has caused the capacity of the namespace to be exceeded"},
	{0x82, "NS_NOT_READY: The namespace is not ready to be accessed as a result of a condition other than a condition that is reported as an Asymmetric Namespace Access condition"},
	{0x83, "RESERVATION_CONFLICT: The command was aborted due to a conflict with a reservation held on the accessed namespace"},
	{0x84, "FORMAT_IN_PROGRESS: A Format NVM command is in progress on the namespace"},
};

static const struct status_name command_specific[] = {
	{0x00, "CQ_INVALID: The Completion Queue identifier specified in the command does not exist"},
	{0x01, "QID_INVALID: The creation of the I/O Completion Queue failed due to an invalid queue identifier specified as part of the command"},
	{0x02, "QUEUE_SIZE: The host attempted to create an I/O Completion Queue with an invalid number of entries"},
	{0x03, "ABORT_LIMIT: The number of concurrently outstanding Abort commands has exceeded the limit indicated in the Identify Controller data structure"},
	{0x05, "ASYNC_LIMIT: The number of concurrently outstanding Asynchronous Event Request commands has been exceeded"},
	{0x06, "FIRMWARE_SLOT: The firmware slot indicated is invalid or read only"},
	{0x07, "FIRMWARE_IMAGE: The firmware image specified for activation is invalid and not loaded by the controller"},
	{0x08, "INVALID_VECTOR: The creation of the I/O Completion Queue failed due to an invalid interrupt vector specified as part of the command"},
	{0x09, "INVALID_LOG_PAGE: The log page indicated is invalid"},
	{0x0a, "INVALID_FORMAT: The LBA Format specified is not supported"},
	{0x0b, "FW_NEEDS_CONV_RESET: The firmware commit was successful, however, activation of the firmware image requires a conventional reset"},
	{0x0c, "INVALID_QUEUE: This error indicates that it is invalid to delete the I/O Completion Queue specified"},
	{0x0d, "FEATURE_NOT_SAVEABLE: The Feature Identifier specified does not support a saveable value"},
	{0x0e, "FEATURE_NOT_CHANGEABLE: The Feature Identifier is not able to be changed"},
	{0x0f, "FEATURE_NOT_PER_NS: The Feature Identifier specified is not namespace specific"},
	{0x10, "FW_NEEDS_SUBSYS_RESET: The firmware commit was successful, however, activation of the firmware image requires an NVM Subsystem"},
	{0x15, "NS_INSUFFICIENT_CAPACITY: Creating the namespace requires more free space than is currently available"},
	{0x16, "NS_ID_UNAVAILABLE: The number of namespaces supported has been exceeded"},
	{0x18, "NS_ALREADY_ATTACHED: The controller is already attached to the namespace specified"},
	{0x19, "NS_IS_PRIVATE: The namespace is private and is already attached to one controller"},
	{0x1a, "NS_NOT_ATTACHED: The request to detach the controller could not be completed because the controller is not attached to the namespace"},
	{0x1c, "CONTROLLER_LIST_INVALID: The controller list provided is invalid"},
	{0x80, "CONFLICTING_ATTRS: The attributes specified in the command are conflicting"},
	{0x81, "INVALID_PI: The Protection Information Field settings specified in the command are invalid"},
	{0x82, "READ_ONLY: Attempted to write to a read-only range"},
};

/* Command specific codes of Fabrics commands (Connect, Property Get/Set...). */
static const struct status_name fabrics[] = {
	{0x80, "CONNECT_FORMAT: Incompatible Format: The NVM subsystem does not support the record format specified by the host"},
	{0x81, "CONNECT_CTRL_BUSY: Controller Busy: The controller is already associated with a host"},
	{0x82, "CONNECT_INVALID_PARAM: Connect Invalid Parameters: One or more of the command parameters"},
	{0x83, "CONNECT_RESTART_DISC: Connect Restart Discovery: The NVM subsystem requested is not available"},
	{0x84, "CONNECT_INVALID_HOST: Connect Invalid Host: The host is not allowed to establish an association to either any controller in the NVM subsystem or the specified controller"},
	{0x85, "INVALID_QUEUE_TYPE: Invalid Queue Type: The command was sent on the wrong queue type"},
	{0x90, "DISCOVERY_RESTART: Discover Restart: The snapshot of the records is now invalid or out of date"},
	{0x91, "AUTH_REQUIRED: Authentication Required: NVMe in-band authentication is required and the queue has not yet been authenticated"},
};

static const struct status_name media[] = {
	{0x80, "WRITE_FAULT: The write data could not be committed to the media"},
	{0x81, "READ_ERROR: The read data could not be recovered from the media"},
	{0x82, "GUARD_CHECK: The command was aborted due to an end-to-end guard check failure"},
	{0x83, "APPTAG_CHECK: The command was aborted due to an end-to-end application tag check failure"},
	{0x84, "REFTAG_CHECK: The command was aborted due to an end-to-end reference tag check failure"},
	{0x85, "COMPARE_FAILED: The command failed due to a miscompare during a Compare command"},
	{0x86, "ACCESS_DENIED: Access to the namespace and/or LBA range is denied due to lack of access rights"},
	{0x87, "UNWRITTEN_BLOCK: The command failed due to an attempt to read from an LBA range containing a deallocated or unwritten logical block"},
};

static const struct status_name path[] = {
	{0x00, "INTERNAL_PATH_ERROR: The command was not completed as the result of a controller internal error"},
	{0x01, "ANA_PERSISTENT_LOSS: The requested function (e.g., command) is not able to be performed as a result of the relationship between the controller and the namespace being in the ANA Persistent Loss state"},
	{0x02, "ANA_INACCESSIBLE: The requested function (e.g., command) is not able to be performed as a result of the relationship between the controller and the namespace being in the ANA Inaccessible state"},
	{0x03, "ANA_TRANSITION: The requested function (e.g., command) is not able to be performed as a result of the relationship between the controller and the namespace transitioning between Asymmetric Namespace Access states"},
	{0x60, "CTRL_PATH_ERROR: Controller Pathing Error: A pathing error was detected by the controller"},
	{0x70, "HOST_PATH_ERROR: Host Pathing Error: A pathing error was detected by the host"},
	{0x71, "CMD_ABORTED_BY_HOST: The command was aborted as a result of host action"},
};

static const char *lookup(const struct status_name *t, size_t n, uint8_t sc)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].sc == sc)
			return t[i].str;
	return NULL;
}

#define LOOKUP(t, sc) lookup((t), sizeof(t) / sizeof((t)[0]), (sc))

const char *nvmf_host_status_str(uint16_t status, bool is_fabrics)
{
	uint8_t sct = NVME_STATUS_GET_SCT(status), sc = NVME_STATUS_GET_SC(status);
	const char *s = NULL;

	switch (sct) {
	case NVME_SCT_GENERIC:
		s = LOOKUP(generic, sc);
		break;
	case NVME_SCT_COMMAND_SPECIFIC:
		if (is_fabrics)
			s = LOOKUP(fabrics, sc);
		if (!s)
			s = LOOKUP(command_specific, sc);
		break;
	case NVME_SCT_MEDIA_ERROR:
		s = LOOKUP(media, sc);
		break;
	case NVME_SCT_PATH:
		s = LOOKUP(path, sc);
		break;
	case NVME_SCT_VENDOR:
		return "VENDOR_SPECIFIC: Vendor specific status code";
	default:
		break;
	}
	return s ? s : "Unknown";
}

void nvmf_host_status_format(uint16_t status, bool is_fabrics, char *buf, size_t len)
{
	/* nvme-cli's value: SCT in bits 10:8, SC in 7:0, DNR as 0x4000. */
	unsigned v = (unsigned)NVME_STATUS_GET_SCT(status) << 8 | NVME_STATUS_GET_SC(status);
	if (NVME_STATUS_GET_DNR(status))
		v |= 0x4000;
	snprintf(buf, len, "%s (0x%x)", nvmf_host_status_str(status, is_fabrics), v);
}

void nvmf_host_result_format(int rc, char *buf, size_t len)
{
	if (rc > 0)
		nvmf_host_status_format((uint16_t)rc, false, buf, len);
	else if (rc < 0)
		snprintf(buf, len, "%s", strerror(-rc));
	else
		snprintf(buf, len, "success");
}
