/*
 * peer-transport: the kinds of listener a client can come through. The
 * transport records which one accepted a connection (struct peer_identity),
 * the policy's conditions and the audit name them; this header is what both
 * share, so that the transport depends on nothing of the policy's.
 */
#ifndef SOCKBROKER_PEER_TRANSPORT_H
#define SOCKBROKER_PEER_TRANSPORT_H

/* Transports an identity can come from (bit masks of 1u << value). */
enum policy_transport {
	POLICY_TRANSPORT_IPC,
	POLICY_TRANSPORT_ABSTRACT,
	POLICY_TRANSPORT_TCP,
	POLICY_TRANSPORT_TLS,
	POLICY_TRANSPORT__COUNT,
};

#endif
