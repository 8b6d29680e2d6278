# Import an existing ACK cluster by its cluster id.
terraform import sparkoss_cluster.analytics c0123456789abcdef0123456789abcdef
