/** Largest control datagram, either direction (NeuVector's DP_MSG_SIZE). */
export const DP_MSG_SIZE = 8192;
/** Most sessions one ctrl_list_session returns (the rest are counted as "truncated"). */
export const MAX_LISTED_SESSIONS = 100_000;
