/** Largest control datagram, either direction (NeuVector's DP_MSG_SIZE). */
export const DP_MSG_SIZE = 8192;
/**
 * Most rules one ctrl_cfg_policy START..END transaction may carry. Pending chunks are held
 * until END, so without a cap a START that never ends grows without bound; compiling the
 * largest allowed policy takes a fraction of a second on the control path.
 */
export const MAX_POLICY_RULES = 65_536;
/** Most subnets one ctrl_cfg_internal_net transaction may carry. */
export const MAX_INTERNAL_NETS = 4096;
/** Most sessions one ctrl_list_session returns (the rest are counted as "truncated"). */
export const MAX_LISTED_SESSIONS = 100_000;
