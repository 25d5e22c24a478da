"""The local Studio's front door: every request to its AWS endpoint is authenticated
(SigV4 against the secret the local Studio issued), authorized (the caller's identity
policies, evaluated with AWS's logic) and only then served (SageMaker, SSM, STS) or
forwarded (to moto, in the same process)."""
