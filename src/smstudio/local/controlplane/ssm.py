"""The part of AWS Systems Manager that SSH into Studio apps uses, for the local Studio:
hybrid activations, managed instances (found by tags, deregistered), Run Command with
AWS-RunShellScript (run as root in the app's container, as the SSM agent would) and
sessions. Who may call what is decided before a request gets here, by the gateway,
from the caller's policies and the instances' and sessions' tags (`resource_tags`).

Moto has no managed instances, so these operations live here. A managed instance is
registered by the app itself (`/_local/ssm/register`, standing in for
`amazon-ssm-agent -register`) and, as in AWS where the agent runs where it registered, is
bound to the app that registered it (known from the app's own credentials token), whatever
its tags say.
"""

from __future__ import annotations

import secrets
import string
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from smstudio.local.controlplane import model
from smstudio.local.controlplane.model import ApiError
from smstudio.local.controlplane.store import Store
from smstudio.local.gateway.principal import Caller

Params = dict[str, Any]
SSH_OWNER = "SSHOwner"
DOCUMENTS = ("AWS-StartSSHSession", "AWS-RunShellScript")
SESSION_ID_TAG, TARGET_ID_TAG = "aws:ssmmessages:session-id", "aws:ssmmessages:target-id"
OUTPUT_LIMIT = 24000  # GetCommandInvocation keeps the first 24 000 characters


class InstanceHost(Protocol):
    """Where managed instances run: the app containers."""

    def online(self, app_arn: str) -> bool: ...
    def run_as_root(self, app_arn: str, script: str, timeout: float) -> tuple[int, str, str]: ...


def now() -> datetime:
    return datetime.now(UTC)


def stamp() -> str:
    """Run Command's string timestamps."""
    return now().strftime("%Y-%m-%dT%H:%M:%SZ")


class Ssm:
    def __init__(self, store: Store, account: str, host: InstanceHost | None = None) -> None:
        self.store = store
        self.account = account
        self.host = host
        self.handlers: dict[str, Callable[[Params, str, Caller], dict[str, Any]]] = {
            name.removeprefix("op_"): getattr(self, name)
            for name in dir(self)
            if name.startswith("op_")
        }

    def handle(self, operation: str, params: Params, region: str, caller: Caller) -> Any:
        op = model.operation(operation, "ssm")
        handler = self.handlers.get(operation)
        if handler is None:
            raise ApiError(
                "UnknownOperationException", f"the local Studio does not implement ssm {operation}"
            )
        model.validate_input(op, params)
        with self.store.lock:
            result = handler(params, region, caller)
            if not operation.startswith(("Describe", "List", "Get")):
                self.store.save()
        model.validate_output(op, result)
        return result

    # --- tables ---------------------------------------------------------------------

    def _instances(self) -> dict[str, Any]:
        return self.store.table("ssm-instances")

    def _instance(self, instance_id: str) -> dict[str, Any]:
        found = self._instances().get(instance_id)
        if found is None:
            raise ApiError("InvalidInstanceId", f"Instance {instance_id} is not a managed instance")
        return dict(found)

    def _arn(self, region: str, resource: str) -> str:
        return f"arn:aws:ssm:{region}:{self.account}:{resource}"

    def _ping(self, instance: dict[str, Any]) -> str:
        arn = instance.get("App", "")
        return "Online" if self.host is not None and self.host.online(arn) else "ConnectionLost"

    def resource_tags(self, arn: str) -> dict[str, str] | None:
        """Tags of a managed instance or a session, for IAM's ssm:resourceTag keys."""
        kind, _, name = arn.rsplit(":", 1)[-1].partition("/")
        with self.store.lock:
            if kind == "managed-instance":
                found = self._instances().get(name)
                return dict(found["Tags"]) if found else None
            if kind == "session":
                session = self.store.table("ssm-sessions").get(name)
                if session is None:
                    return None
                return {SESSION_ID_TAG: session["Owner"], TARGET_ID_TAG: session["Target"]}
        return None

    @staticmethod
    def _document(name: str) -> None:
        if name not in DOCUMENTS:
            raise ApiError("InvalidDocument", f"the local Studio runs only {', '.join(DOCUMENTS)}")

    # --- activations and registration ---------------------------------------------------

    def op_CreateActivation(self, params: Params, region: str, caller: Caller) -> dict[str, Any]:
        activation_id = str(uuid.uuid4())
        alphabet = string.ascii_letters + string.digits
        code = "".join(secrets.choice(alphabet) for _ in range(20))
        self.store.table("ssm-activations")[activation_id] = {
            "ActivationId": activation_id,
            "Code": code,
            "IamRole": params["IamRole"],
            "RegistrationLimit": params.get("RegistrationLimit", 1),
            "RegistrationsCount": 0,
            "Description": params.get("Description", ""),
            "Tags": {t["Key"]: t["Value"] for t in params.get("Tags", [])},
            "CreatedDate": now(),
        }
        return {"ActivationId": activation_id, "ActivationCode": code}

    def register(self, activation_id: str, code: str, computer: str, app_arn: str) -> str:
        """What `amazon-ssm-agent -register -id -code` does in app `app_arn`: a managed
        instance there, carrying the activation's tags and role."""
        with self.store.lock:
            activation = self.store.table("ssm-activations").get(activation_id)
            if activation is None or not secrets.compare_digest(activation["Code"], code):
                raise ApiError("InvalidActivation", "the activation id or code is not valid")
            if activation["RegistrationsCount"] >= activation["RegistrationLimit"]:
                raise ApiError("InvalidActivation", "the activation's registration limit is used")
            activation["RegistrationsCount"] += 1
            instance_id = "mi-" + secrets.token_hex(9)[:17]
            self._instances()[instance_id] = {
                "InstanceId": instance_id,
                "ActivationId": activation_id,
                "IamRole": activation["IamRole"],
                "RegistrationDate": now(),
                "ComputerName": computer or instance_id,
                "Tags": dict(activation["Tags"]),
                "App": app_arn,
            }
            self.store.save()
            return instance_id

    def op_DeregisterManagedInstance(self, params: Params, region: str, caller: Caller) -> Any:
        self._instance(params["InstanceId"])
        del self._instances()[params["InstanceId"]]
        return {}

    # --- lookup -----------------------------------------------------------------------

    @staticmethod
    def _matches(instance: dict[str, Any], ping: str, key: str, values: list[str]) -> bool:
        tags = instance["Tags"]
        if key.startswith("tag:"):
            return tags.get(key.removeprefix("tag:")) in values
        if key == "tag-key":
            return any(v in tags for v in values)
        field = {
            "InstanceIds": instance["InstanceId"],
            "ActivationIds": instance["ActivationId"],
            "IamRole": instance["IamRole"],
            "PingStatus": ping,
            "ResourceType": "ManagedInstance",
            "PlatformTypes": "Linux",
        }
        if key not in field:
            raise ApiError("InvalidInstanceInformationFilterValue", f"unsupported filter {key}")
        return field[key] in values

    def op_DescribeInstanceInformation(self, params: Params, region: str, caller: Caller) -> Any:
        filters = [(f["Key"], f["Values"]) for f in params.get("Filters", [])]
        legacy = params.get("InstanceInformationFilterList", [])
        filters += [(f["key"], f["valueSet"]) for f in legacy]
        listed = []
        for instance in self._instances().values():
            ping = self._ping(instance)
            if all(self._matches(instance, ping, k, v) for k, v in filters):
                listed.append(
                    {
                        "InstanceId": instance["InstanceId"],
                        "PingStatus": ping,
                        "LastPingDateTime": now(),
                        "AgentVersion": "0.0.0",  # no agent: the local Studio
                        "PlatformType": "Linux",
                        "ResourceType": "ManagedInstance",
                        "IamRole": instance["IamRole"],
                        "ActivationId": instance["ActivationId"],
                        "RegistrationDate": instance["RegistrationDate"],
                        "ComputerName": instance["ComputerName"],
                        "Name": instance["ComputerName"],
                    }
                )
        return {"InstanceInformationList": listed}

    def _tags(self, params: Params) -> dict[str, str]:
        """The stored tags of the managed instance a tagging call names."""
        if params["ResourceType"] != "ManagedInstance":
            raise ApiError(
                "InvalidResourceType", "the local Studio keeps tags of managed instances"
            )
        self._instance(params["ResourceId"])
        tags: dict[str, str] = self._instances()[params["ResourceId"]]["Tags"]
        return tags

    def op_ListTagsForResource(self, params: Params, region: str, caller: Caller) -> Any:
        tags = self._tags(params)
        return {"TagList": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}

    def op_AddTagsToResource(self, params: Params, region: str, caller: Caller) -> Any:
        self._tags(params).update({t["Key"]: t["Value"] for t in params["Tags"]})
        return {}

    # --- Run Command and sessions -------------------------------------------------------

    def op_SendCommand(self, params: Params, region: str, caller: Caller) -> Any:
        self._document(params["DocumentName"])
        if params["DocumentName"] != "AWS-RunShellScript":
            raise ApiError("InvalidDocument", "SendCommand takes AWS-RunShellScript here")
        targets = params.get("InstanceIds") or []
        if not targets:
            raise ApiError("ValidationException", "the local Studio needs InstanceIds")
        for instance_id in targets:
            self._instance(instance_id)
        command_id = str(uuid.uuid4())
        script = "\n".join(params.get("Parameters", {}).get("commands", []))
        timeout = float(params.get("TimeoutSeconds") or 3600)
        invocations = self.store.table("ssm-invocations")
        for instance_id in targets:
            invocations[f"{command_id}/{instance_id}"] = {
                "CommandId": command_id,
                "InstanceId": instance_id,
                "DocumentName": params["DocumentName"],
                "Comment": params.get("Comment", ""),
                "Status": "InProgress",
                "StatusDetails": "InProgress",
                "ResponseCode": -1,
                "ExecutionStartDateTime": stamp(),
                "StandardOutputContent": "",
                "StandardErrorContent": "",
            }
            arn = self._instances()[instance_id].get("App", "")
            threading.Thread(
                target=self._run, args=(f"{command_id}/{instance_id}", arn, script, timeout),
                daemon=True,
            ).start()  # fmt: skip
        return {
            "Command": {
                "CommandId": command_id,
                "DocumentName": params["DocumentName"],
                "InstanceIds": targets,
                "Parameters": params.get("Parameters", {}),
                "Status": "InProgress",
                "RequestedDateTime": now(),
                "TargetCount": len(targets),
            }
        }

    def _run(self, key: str, app_arn: str, script: str, timeout: float) -> None:
        if self.host is None or not self.host.online(app_arn):
            code, out, err, status = -1, "", "the instance is not connected", "Undeliverable"
        else:
            try:
                code, out, err = self.host.run_as_root(app_arn, script, timeout)
                status = "Success" if code == 0 else "Failed"
            except Exception as exc:  # the instance went away mid-command
                code, out, err, status = -1, "", repr(exc), "Failed"
        with self.store.lock:
            invocation = self.store.table("ssm-invocations")[key]
            invocation.update(
                Status=status,
                StatusDetails=status,
                ResponseCode=code,
                StandardOutputContent=out[:OUTPUT_LIMIT],
                StandardErrorContent=err[:OUTPUT_LIMIT],
                ExecutionEndDateTime=stamp(),
            )
            self.store.save()

    def op_GetCommandInvocation(self, params: Params, region: str, caller: Caller) -> Any:
        key = f"{params['CommandId']}/{params['InstanceId']}"
        found = self.store.table("ssm-invocations").get(key)
        if found is None:
            raise ApiError("InvocationDoesNotExist", "no such command invocation")
        return dict(found)

    def op_StartSession(self, params: Params, region: str, caller: Caller) -> Any:
        self._document(params.get("DocumentName", "SSM-SessionManagerRunShell"))
        instance = self._instance(params["Target"])
        if self._ping(instance) != "Online":
            raise ApiError("TargetNotConnected", f"{params['Target']} is not connected.")
        name = caller.session_name or caller.username or caller.account
        session_id = f"{name}-{secrets.token_hex(8)}"
        token = secrets.token_urlsafe(24)
        self.store.table("ssm-sessions")[session_id] = {
            "Target": params["Target"],
            "TokenValue": token,
            "DocumentName": params.get("DocumentName", ""),
            "Parameters": params.get("Parameters", {}),
            "Owner": caller.userid,
            "Started": now(),
        }
        return {
            "SessionId": session_id,
            "TokenValue": token,
            "StreamUrl": f"wss://ssmmessages.{region}.amazonaws.com/v1/data-channel/{session_id}",
        }

    def op_TerminateSession(self, params: Params, region: str, caller: Caller) -> Any:
        self.store.table("ssm-sessions").pop(params["SessionId"], None)
        return {"SessionId": params["SessionId"]}

    def stream(self, session_id: str, token: str) -> dict[str, Any]:
        """What the Session Manager plugin's data channel would connect to: the session's
        app and port, for whoever holds the session's token (once: the token is used)."""
        with self.store.lock:
            session = self.store.table("ssm-sessions").get(session_id)
            if session is None or not secrets.compare_digest(session["TokenValue"], token):
                raise ApiError("AccessDeniedException", "unknown session or wrong token", 403)
            session["TokenValue"] = ""  # one data channel per session
            # SageMaker's StartSession names the app itself; SSM's, a managed instance
            app = session.get("AppArn") or self._instance(session["Target"]).get("App", "")
            self.store.save()
        port = session["Parameters"].get("portNumber", ["22"])[0]
        return {"AppArn": app, "Port": int(port)}
