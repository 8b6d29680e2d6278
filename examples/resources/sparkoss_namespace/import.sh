# Import a namespace by name (the kubeconfig attributes are read from the configuration).
terraform import sparkoss_namespace.team_a team-a
